"""Derivative-free poisoning: the optimised attack's search with only ``fit_predict`` calls."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from truthguard.aggregators.base import Aggregator
from truthguard.attacks.base import Attack
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

__all__ = ["BlackBoxAttack"]

FloatArray = npt.NDArray[np.float64]


class BlackBoxAttack(Attack):
    r"""Black-box poisoning: the same objective and search as :class:`OptimizedAttack`, without gradients.

    The aggregator is only called through ``fit_predict``, so this attacks any aggregator: TruthGuard's, a
    user's own, or crowd-kit's (any object whose ``fit_predict`` takes a DataFrame with columns ``task``,
    ``worker``, ``value`` and returns a Series indexed by task; wrap one expecting ``label`` accordingly).

    Search: the baselines, the line search towards the far bounds, the reliability-farming sweep
    (:func:`~truthguard.attacks.search.farming`, under the rankings of
    :func:`~truthguard.attacks.search.farming_rankings`), then
    SPSA ascent (Spall, IEEE TAC 1992) from the best candidate: each step draws a random sign vector
    :math:`\Delta \in \{-1, 1\}^d` over all malicious values, evaluates the objective at
    :math:`\tilde x \pm c_t \Delta` (:math:`c_t = c / t^{0.101}`, relative to each task's range) and steps
    along :math:`\hat g = \frac{L(\tilde x + c_t\Delta) - L(\tilde x - c_t\Delta)}{2 c_t} \Delta` with
    projected Adam. Two aggregator runs per step; every point evaluated is a candidate, and the best one is
    returned.

    Args:
        threat: The threat model.
        steps: SPSA steps (two aggregator runs each).
        perturbation: :math:`c`, the probe size as a fraction of each task's range.
        learning_rate: Initial Adam step, as a fraction of each task's range.
        line_search_points: Points of the line search (0 to skip it).
        farming_points: Values of ``n`` in the farming sweep, per step towards the far bound (0 to skip it).
        farming_refine: Rounds refining the best ``n`` of the farming sweep.

    Examples:
        >>> from truthguard.aggregators import GTM
        >>> from truthguard.attacks import BlackBoxAttack, RandomAttack, ThreatModel
        >>> from truthguard.datasets import make_synthetic
        >>> data = make_synthetic(n_tasks=100, n_workers=20, seed=0)
        >>> attack = BlackBoxAttack(ThreatModel(fraction=0.1), steps=10)
        >>> _ = attack.poison(data.answers, data.bounds, GTM(), random_state=0)
        >>> random = RandomAttack(ThreatModel(fraction=0.1))
        >>> _ = random.poison(data.answers, data.bounds, GTM(), random_state=0)
        >>> bool(attack.objective_ >= random.objective_)
        True
    """

    name = "blackbox"
    summary = "derivative-free: line search and SPSA ascent using only fit_predict"
    needs_aggregator = True
    memory_per_answer = 180.0  # measured 167 (a DataFrame per fit_predict call beside the answers)
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        **Attack._parameter_constraints,
        "steps": [Interval("integer", 0, None)],
        "perturbation": [Interval("real", 0, 1, "right")],
        "learning_rate": [Interval("real", 0, 1, "right")],
        "line_search_points": [Interval("integer", 0, None)],
        "farming_points": [Interval("integer", 0, None)],
        "farming_refine": [Interval("integer", 0, None)],
    }

    def __init__(
        self,
        threat: ThreatModel | None = None,
        steps: int = 100,
        perturbation: float = 0.05,
        learning_rate: float = 0.05,
        line_search_points: int = 10,
        farming_points: int = 12,
        farming_refine: int = 6,
    ) -> None:
        super().__init__(threat)
        self.steps = steps
        self.perturbation = perturbation
        self.learning_rate = learning_rate
        self.line_search_points = line_search_points
        self.farming_points = farming_points
        self.farming_refine = farming_refine

    def craft(
        self, problem: AttackProblem, aggregator: Aggregator | Any | None, rng: np.random.Generator
    ) -> FloatArray:
        starts = starting_candidates(problem, rng)
        points, refine = self.farming_points, self.farming_refine
        work = explore_budget(starts, self.line_search_points, len(FARMING_RANKINGS), points, refine)
        with progress(work + 2 * self.steps, "blackbox attack", unit="fit") as bar:
            search = Search(problem, aggregator, bar=bar)
            if explore(search, starts, self.line_search_points, lambda: farming_rankings(problem), points, refine):
                self._spsa(search, rng)
        self.trace_ = search.trace
        self.stage_ = search.best_stage
        return search.best()

    def _spsa(self, search: Search, rng: np.random.Generator) -> None:
        problem = search.problem
        span = problem.high - problem.low
        values, origin = search.best().copy(), search.best_stage
        optimizer = ProjectedAdam(problem.low, problem.high, self.learning_rate, self.steps)
        for step in range(1, self.steps + 1):
            probe = self.perturbation / step**0.101 * span * rng.choice((-1.0, 1.0), size=problem.n_slots)
            up = search.evaluate(values + probe, f"spsa {step}+ from {origin}")
            down = search.evaluate(values - probe, f"spsa {step}- from {origin}")
            with np.errstate(divide="ignore", invalid="ignore"):
                gradient = np.where(probe != 0, (up - down) / (2.0 * probe), 0.0)
            if not math.isfinite(up - down):
                break
            values = optimizer.step(values, gradient)
