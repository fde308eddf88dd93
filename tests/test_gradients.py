"""Gradients through the aggregators (JAX) against finite differences.

Two checks per aggregator:

* the program: JAX's gradient of the unrolled computation equals central finite differences of the same
  computation (evaluated forward by JAX), so nothing in the shared formulas blocks or distorts gradients;
* the converged estimate: warm-started at the converged estimates and unrolled long enough, the gradient
  equals finite differences of the attacker's objective computed with the NumPy aggregator run to
  convergence (``fit``), i.e. the implicit derivative the optimised attack relies on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from truthguard.aggregators import CATD, CRH, GTM, LFCN, Aggregator, Mean, Median, TrimmedMean
from truthguard.attacks import AttackProblem, ThreatModel
from truthguard.attacks.differentiable import GradientOracle
from truthguard.core import Answers
from truthguard.datasets import make_synthetic

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
    oracle = GradientOracle(problem, aggregator, unroll=8)
    start = problem.estimate(aggregator, problem.view_answers(values))
    _, gradient, _ = oracle(values, start)
    step = 1e-5
    numeric = np.empty_like(values)
    for i in range(values.size):
        up, down = values.copy(), values.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (oracle(up, start)[0] - oracle(down, start)[0]) / (2 * step)
    assert np.abs(gradient).max() > 1e-3  # the objective does depend on the malicious values
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_gradient_of_the_converged_estimate(name: str) -> None:
    aggregator = FACTORIES[name]()
    problem, values = _setting(aggregator)
    start = problem.estimate(aggregator, problem.view_answers(values))
    _, gradient, _ = GradientOracle(problem, aggregator, unroll=300)(values, start)
    step = 1e-4
    numeric = np.empty_like(values)
    for i in range(values.size):
        up, down = values.copy(), values.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (problem.objective(aggregator, up) - problem.objective(aggregator, down)) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-4)
