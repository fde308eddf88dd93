"""Gradients through the aggregators (JAX) against finite differences.

Two checks per aggregator:

* the program: JAX's gradient of one iteration of the method (one-shot methods: of the estimate), taken with
  respect to every answer value, equals central finite differences of the same computation (evaluated forward
  by JAX), so nothing in the shared formulas blocks or distorts gradients;
* the converged estimate: warm-started at the converged estimates, with enough Neumann terms, the oracle's
  implicit gradient equals finite differences of the attacker's objective computed with the NumPy aggregator
  run to convergence (``fit``): the derivative the optimised attack relies on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from truthguard.aggregators import CATD, CRH, GTM, LFCN, Aggregator, Mean, Median, TrimmedMean
from truthguard.aggregators.base import IterativeAggregator
from truthguard.aggregators.differentiable import jax_backend
from truthguard.attacks import AttackProblem, ThreatModel
from truthguard.attacks.oracle import GradientOracle
from truthguard.core import Answers
from truthguard.core.claims import Claims
from truthguard.datasets import make_synthetic
from truthguard.testing import central_differences

FACTORIES: dict[str, Callable[[], Aggregator]] = {
    "mean": Mean,
    "median": Median,
    "trimmed-mean": lambda: TrimmedMean(trim=0.2),
    "crh": lambda: CRH(tol=0.0, max_iter=400),
    "crh-absolute": lambda: CRH(loss="absolute", tol=0.0, max_iter=400),
    "gtm": lambda: GTM(tol=0.0, max_iter=400),
    "catd": lambda: CATD(tol=0.0, max_iter=400),
    "lfc-n": lambda: LFCN(tol=0.0, max_iter=400),
}


def _setting(aggregator: Aggregator, seed: int = 4) -> tuple[AttackProblem, np.ndarray]:
    # Sparse continuous answers (no ties, no worker covering everything) and two malicious workers whose values
    # sit a little off the reference estimate towards the far bound: every estimate differs from its reference,
    # so the objective is differentiable there, and the malicious values fall in the middle of each task's
    # answers, so that medians (plain or weighted) depend on them too.
    data = make_synthetic(n_tasks=15, n_workers=9, answers_per_task=4, seed=seed)
    problem = AttackProblem.build(
        Answers.from_frame(data.answers), data.bounds, ThreatModel(n_malicious=2), aggregator, np.random.default_rng(0)
    )
    fraction = np.random.default_rng(1).uniform(0.005, 0.05, problem.n_slots)
    values = problem.reference_per_slot() + fraction * (problem.far_bound() - problem.reference_per_slot())
    return problem, values


@pytest.mark.parametrize("name", list(FACTORIES))
def test_gradient_of_the_program(name: str) -> None:
    aggregator = FACTORIES[name]()
    problem, values = _setting(aggregator)
    view = problem.view_answers(values)
    # Generic answer values: no two answers of a task tied (a median or a trimming boundary has a kink there).
    view = view.with_values(view.value + np.random.default_rng(3).uniform(-1e-3, 1e-3, view.n_answers))
    claims = Claims.from_answers(view)
    start = problem.estimate(aggregator, view)
    mix = np.random.default_rng(2).normal(size=view.n_tasks)  # a generic linear functional of the estimate
    with jax_backend() as (be, jax):
        xp = be.xp

        codes = Claims(
            xp.asarray(claims.task),
            xp.asarray(claims.worker),
            claims.value,
            claims.n_tasks,
            claims.n_workers,
            claims.task_counts,
            claims.worker_counts,
        )  # fmt: skip  (the codes as JAX arrays, as the oracle passes them)

        def program(answer_values: np.ndarray) -> object:
            current = codes.with_values(answer_values)
            if not isinstance(aggregator, IterativeAggregator):
                estimate = aggregator._estimate(be, current, xp.ones(claims.n_workers))
            else:
                prep = aggregator._prepare(be, current)
                truths = aggregator._to_working(be, current, prep, xp.asarray(start))
                estimate = aggregator._output(be, current, prep, aggregator._iterate(be, current, prep, truths)[0])
            return xp.sum(xp.asarray(mix) * estimate)

        gradient = np.asarray(jax.grad(program)(xp.asarray(view.value)))
        program = jax.jit(program)  # the finite differences below call it twice per answer
        numeric = central_differences(lambda values: float(program(xp.asarray(values))), view.value, 1e-6)
    assert np.abs(gradient).max() > 1e-3  # the estimate does depend on the answers
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_gradient_of_the_converged_estimate(name: str) -> None:
    aggregator = FACTORIES[name]()
    problem, values = _setting(aggregator)
    start = problem.estimate(aggregator, problem.view_answers(values))
    _, gradient, _ = GradientOracle(problem, aggregator, unroll=300)(values, start)
    numeric = central_differences(lambda candidate: problem.objective(aggregator, candidate), values, 1e-4)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["gtm", "median", "crh-absolute"])
def test_compiled_gradient_sorts_nothing_on_the_host(name: str) -> None:
    """The compiled gradient holds no host callback: a callback that sorted the answers on the host once read
    its inputs before XLA had written them, so the Emotion attack's result changed from run to run (42.13,
    42.18, 42.23). The answers' order now comes in as an argument, computed by NumPy before the call."""
    from truthguard.aggregators.differentiable import DifferentiableFit

    aggregator = FACTORIES[name]()
    problem, values = _setting(aggregator)
    oracle = GradientOracle(problem, aggregator, unroll=5)
    fit: DifferentiableFit = oracle._fit
    known = values[problem.known_slots]
    with jax_backend() as (be, jax):
        jitted = fit._build(be, jax)
        program = str(
            jax.make_jaxpr(jitted)(*fit._inputs(be, known, problem.reference, oracle._arrays | {"push": False}))
        )
    assert "callback" not in program
    # Same inputs, same bytes out (within a process; across processes test_farming checks whole attacks).
    first, second = oracle(known, problem.reference), oracle(known, problem.reference)
    assert first[0] == second[0] and first[1].tobytes() == second[1].tobytes()
