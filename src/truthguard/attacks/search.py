"""Search machinery shared by the optimised (white-box) and black-box attacks.

Both attacks evaluate candidates exactly (the aggregator run to convergence on what the attacker knows),
start from the baselines and a line search towards the far bounds, improve with projected ascent, and return
the best candidate evaluated, so they are never weaker than the baselines on the attacker's objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from truthguard.attacks.problem import AttackProblem

__all__ = ["ProjectedAdam", "Search", "line_search", "starting_candidates"]

FloatArray = npt.NDArray[np.float64]


@dataclass
class Search:
    """Exact evaluations of candidates on the attacker's view, remembering the best ones.

    Attributes:
        keep: How many of the best distinct candidates to remember (starting points for ascent).
        leaders: ``(objective, stage, values)`` of the best distinct candidates, best first.
        trace: ``(stage, objective)`` of every evaluation, in order.
    """

    problem: AttackProblem
    aggregator: Any
    keep: int = 1
    leaders: list[tuple[float, str, FloatArray]] = field(default_factory=list)
    trace: list[tuple[str, float]] = field(default_factory=list)
    #: A progress bar (:mod:`truthguard.core.progress`) ticked by every evaluation and ascent step, or None.
    bar: Any = None

    def tick(self, stage: str) -> None:
        """Count one unit of work (an evaluation, a gradient step) on the progress bar, with the best so far."""
        if self.bar is not None:
            self.bar.set_postfix_str(f"{stage}, best {self.best_score:.6g}", refresh=False)
            self.bar.update(1)

    def evaluate(self, values: FloatArray, stage: str) -> float:
        """The attacker's objective for ``values`` (one per slot) with the converged aggregator.

        Values are clipped to the bounds and slots on tasks the attacker does not know set to their upper
        bound first, so every candidate is a valid attack.
        """
        problem = self.problem
        values = np.clip(values, problem.low, problem.high)
        values[~problem.known_slots] = problem.high[~problem.known_slots]
        score = problem.objective(self.aggregator, values)
        self.trace.append((stage, score))
        if not any(np.array_equal(values, other) for _, _, other in self.leaders):
            self.leaders.append((score, stage, values))
            self.leaders.sort(key=lambda leader: -leader[0])
            del self.leaders[max(self.keep, 1) :]
        self.tick(stage)
        return score

    @property
    def best_score(self) -> float:
        return self.leaders[0][0] if self.leaders else -math.inf

    @property
    def best_stage(self) -> str:
        return self.leaders[0][1] if self.leaders else ""

    def best(self) -> FloatArray:
        """The best candidate evaluated."""
        assert self.leaders, "evaluate at least one candidate first"
        return self.leaders[0][2]


def starting_candidates(problem: AttackProblem, rng: np.random.Generator) -> dict[str, FloatArray]:
    """The baselines and a reliability-farming start, as candidates.

    ``random`` is the first draw from ``rng``, exactly what :class:`~truthguard.attacks.RandomAttack` produces
    with the same seed; ``maximum`` and ``far`` are :class:`~truthguard.attacks.MaximumAttack`'s two modes;
    ``camouflage`` agrees with the reference estimate on a random half of each malicious worker's tasks, to
    earn weight, and takes the far bound on the other half. For a targeted goal, ``aimed`` takes the bound
    beyond each target and agrees with the estimate on every other task.
    """
    random = rng.uniform(problem.low, problem.high)
    far = problem.far_bound()
    reference = problem.reference_per_slot()
    honest_looking = rng.random(problem.n_slots) < 0.5
    candidates = {
        "random": random,
        "maximum": problem.high.copy(),
        "far": far,
        "camouflage": np.where(honest_looking, reference, far),
    }
    if problem.threat.goal == "targeted":
        candidates["aimed"] = np.where(problem.pushed(), far, reference)
    return candidates


def line_search(search: Search, points: int) -> None:
    r"""Evaluate :math:`\tilde x = \hat x + \lambda (b - \hat x)` for ``points`` values of :math:`\lambda` in (0, 1].

    :math:`\hat x` is each slot's reference estimate and :math:`b` its far bound: the paper-reconstruction's
    directional line search (§4.2, variant 1). Against GTM a small :math:`\lambda` often wins, because values
    too far away only raise the malicious workers' estimated variance. For a targeted goal only the slots on
    target tasks move; the others stay at the estimate.
    """
    reference = search.problem.reference_per_slot()
    far = np.where(search.problem.pushed(), search.problem.far_bound(), reference)
    for lam in np.linspace(0.0, 1.0, points + 1)[1:]:
        search.evaluate(reference + lam * (far - reference), f"line {lam:.3f}")


class ProjectedAdam:
    """Adam ascent projected on the box [low, high], step sizes relative to each slot's range.

    The learning rate follows a cosine decay from ``learning_rate`` (a fraction of the range) to 0 over
    ``steps`` (Kingma & Ba, ICLR 2015, with bias correction).
    """

    def __init__(self, low: FloatArray, high: FloatArray, learning_rate: float, steps: int) -> None:
        self.low, self.high = low, high
        self.span = np.maximum(high - low, 1e-12)
        self.learning_rate, self.steps = learning_rate, max(steps, 1)
        self.first = np.zeros_like(low)
        self.second = np.zeros_like(low)
        self.t = 0

    def step(self, values: FloatArray, gradient: FloatArray) -> FloatArray:
        """One ascent step from ``values`` along ``gradient``; returns the projected new values."""
        beta1, beta2 = 0.9, 0.999
        gradient = gradient * self.span  # scale-free: every slot moves in units of its own range
        self.first = beta1 * self.first + (1 - beta1) * gradient
        self.second = beta2 * self.second + (1 - beta2) * gradient * gradient
        self.t += 1
        first = self.first / (1 - beta1**self.t)
        second = self.second / (1 - beta2**self.t)
        rate = self.learning_rate * 0.5 * (1 + math.cos(math.pi * (self.t - 1) / self.steps))
        step = rate * self.span * first / (np.sqrt(second) + 1e-12)
        return np.clip(values + step, self.low, self.high)
