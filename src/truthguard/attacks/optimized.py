"""The optimised (white-box) data-poisoning attack of Fang et al. (WWW 2021), with exact gradients."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from truthguard.aggregators.base import Aggregator
from truthguard.attacks.base import Attack
from truthguard.attacks.oracle import GradientOracle
from truthguard.attacks.problem import AttackProblem
from truthguard.attacks.search import (
    FARMING_RANKINGS,
    ProjectedAdam,
    Search,
    explore,
    explore_budget,
    farming_rankings,
    starting_candidates,
)
from truthguard.attacks.threat import ThreatModel
from truthguard.core.params import Constraint, Interval
from truthguard.core.progress import progress

__all__ = ["OptimizedAttack"]

FloatArray = npt.NDArray[np.float64]


class OptimizedAttack(Attack):
    r"""Optimised poisoning: maximise the aggregator's error by gradient ascent through the aggregator.

    The attacker solves the bilevel problem (Fang et al., WWW 2021; Miao et al., MobiHoc 2018)

    .. math::
        \max_{\tilde X} \; \sum_m \big| \hat x_m(X \cup \tilde X) - \hat x_m(X) \big|
        \quad \text{s.t.} \quad \text{low}_m \le \tilde x_j^m \le \text{high}_m,

    where :math:`\hat x(\cdot)` is the aggregator run to convergence (the lower level) and the decision
    variables are the individual malicious values :math:`\tilde x_j^m`, one per malicious worker and task, so
    a malicious worker can look honest on some tasks to earn weight and be extreme on others (reliability
    farming). The targeted goal of the threat model replaces the objective.

    Search:

    1. evaluate the baselines (the random attack's values for the same seed, the maximum attack's two modes);
    2. line search along :math:`\hat x + \lambda (b - \hat x)`, :math:`b` the far bound, ``line_search_points``
       values of :math:`\lambda`;
    3. reliability farming (:func:`~truthguard.attacks.search.farming`): every malicious worker copies the
       estimate except on its ``n`` most promising tasks, where it moves towards the far bound; ``n`` and the
       step swept (``farming_points`` values of ``n``, ``farming_refine`` rounds of refinement), under the
       rankings of :func:`~truthguard.attacks.search.farming_rankings` and ``gain``, the first-order gain of
       pushing a slot (its gap to the far bound times the derivative of its task's estimate with respect to
       it, at the estimate-copying start);
    4. projected Adam ascent (``steps`` steps, step ``learning_rate`` of each task's range, cosine decay) from
       the best candidates of the ``restarts`` best stages, with exact gradients of the converged aggregator
       (implicit differentiation, :mod:`truthguard.aggregators.differentiable`), evaluating every ``eval_every``
       steps.

    Every candidate is evaluated with the converged aggregator on what the attacker knows, and the best is
    returned: never weaker than the baselines on the attacker's objective. Works for every TruthGuard
    aggregator (CRH, GTM, CATD, LFC-N, mean, median, trimmed mean) without a hand-written gradient.

    Args:
        threat: The threat model.
        steps: Ascent steps per restart.
        restarts: Number of starting candidates ascended from.
        learning_rate: Initial step, as a fraction of each task's range.
        unroll: Per gradient, warm-started aggregator iterations and Neumann terms of the implicit derivative
            (iterative methods).
        line_search_points: Points of the line search (0 to skip it).
        farming_points: Values of ``n`` in the farming sweep, per step towards the far bound (0 to skip it).
        farming_refine: Rounds refining the best ``n`` of the farming sweep.
        eval_every: Exact evaluation every this many steps (and after the last).

    Examples:
        >>> from truthguard.aggregators import CRH
        >>> from truthguard.attacks import MaximumAttack, OptimizedAttack, ThreatModel
        >>> from truthguard.datasets import make_synthetic
        >>> data = make_synthetic(n_tasks=100, n_workers=20, seed=0)
        >>> threat = ThreatModel(fraction=0.1)
        >>> attack = OptimizedAttack(threat, steps=20, restarts=1)
        >>> poisoned = attack.poison(data.answers, data.bounds, CRH(), random_state=0)
        >>> maximum = MaximumAttack(threat)
        >>> _ = maximum.poison(data.answers, data.bounds, CRH(), random_state=0)
        >>> bool(attack.objective_ >= maximum.objective_)
        True
    """

    name = "optimized"
    summary = "white-box: exact gradients through the aggregator, projected ascent with restarts"
    needs_aggregator = True
    memory_per_answer = 320.0  # measured 289 (JAX's arrays and a gradient beside the exact fits)
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        **Attack._parameter_constraints,
        "steps": [Interval("integer", 0, None)],
        "restarts": [Interval("integer", 0, None)],
        "learning_rate": [Interval("real", 0, 1, "right")],
        "unroll": [Interval("integer", 0, None)],
        "line_search_points": [Interval("integer", 0, None)],
        "farming_points": [Interval("integer", 0, None)],
        "farming_refine": [Interval("integer", 0, None)],
        "eval_every": [Interval("integer", 1, None)],
    }

    def __init__(
        self,
        threat: ThreatModel | None = None,
        steps: int = 100,
        restarts: int = 3,
        learning_rate: float = 0.01,
        unroll: int = 10,
        line_search_points: int = 10,
        farming_points: int = 12,
        farming_refine: int = 6,
        eval_every: int = 5,
    ) -> None:
        super().__init__(threat)
        self.steps = steps
        self.restarts = restarts
        self.learning_rate = learning_rate
        self.unroll = unroll
        self.line_search_points = line_search_points
        self.farming_points = farming_points
        self.farming_refine = farming_refine
        self.eval_every = eval_every

    def craft(
        self, problem: AttackProblem, aggregator: Aggregator | Any | None, rng: np.random.Generator
    ) -> FloatArray:
        assert aggregator is not None
        starts = starting_candidates(problem, rng)
        ascents = self.restarts * (self.steps + math.ceil(self.steps / self.eval_every)) if self.steps else 0
        points, refine = self.farming_points, self.farming_refine
        # One ranking more than the black box (the gradient's), and one step to compute it.
        work = explore_budget(starts, self.line_search_points, len(FARMING_RANKINGS) + 1, points, refine) + 1
        with progress(work + ascents, "optimized attack", unit="step") as bar:
            search = Search(problem, aggregator, keep=self.restarts, bar=bar)
            oracle = GradientOracle(problem, aggregator, self.unroll)

            def rankings() -> dict[str, FloatArray]:
                ranked = self._rankings(oracle)
                search.tick("farm ranking")
                return ranked

            explored = explore(search, starts, self.line_search_points, rankings, points, refine)
            if explored and self.steps and self.restarts:
                for score, stage, start, _ in list(search.leaders):
                    self._ascend(search, oracle, start, stage, score)
        self.trace_ = search.trace
        self.stage_ = search.best_stage
        return search.best()

    @staticmethod
    def _rankings(oracle: GradientOracle) -> dict[str, FloatArray]:
        """The farming rankings, and the first-order gain of pushing each slot to its far bound from copying."""
        problem = oracle.problem
        reference = problem.reference_per_slot()
        known = problem.known_slots
        push = np.zeros(problem.n_slots)  # d(sum of d_m * estimate_m) / d(value), d_m = +-1 towards the far bound
        push[known] = oracle.push(reference[known], problem.reference)
        return farming_rankings(problem) | {"gain": (problem.far_bound() - reference) * push}

    def _ascend(self, search: Search, oracle: GradientOracle, start: FloatArray, origin: str, score: float) -> None:
        """Projected Adam from ``start`` (a candidate already evaluated: objective ``score``), safeguarded by the
        exact evaluations.

        When an exact evaluation finds the objective below the best point of this ascent (a step crossed a
        cliff the local gradient cannot see, such as the farming cliff against GTM), the ascent returns to
        that point and halves its step.
        """
        problem = search.problem
        known = problem.known_slots
        values = start[known].copy()
        optimizer = ProjectedAdam(problem.low[known], problem.high[known], self.learning_rate, self.steps)
        estimate = problem.reference.copy()
        best_score, best_values, best_estimate = score, values.copy(), estimate
        full = start.copy()
        for step in range(1, self.steps + 1):
            _, gradient, estimate = oracle(values, estimate)
            if not (np.all(np.isfinite(gradient)) and np.all(np.isfinite(estimate))):
                # Unrolled arithmetic on extreme answers can overflow where the real fit (rescaled) does not:
                # stop this ascent; every candidate kept was evaluated by the real fit.
                break
            values = optimizer.step(values, gradient)
            stage = f"ascent {step} from {origin}"
            search.tick(stage)
            if step % self.eval_every == 0 or step == self.steps:
                full[known] = values
                score = search.evaluate(full.copy(), stage)
                if score >= best_score:
                    best_score, best_values, best_estimate = score, values.copy(), estimate
                else:
                    values, estimate = best_values.copy(), best_estimate
                    optimizer.learning_rate *= 0.5
