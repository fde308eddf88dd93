"""Search machinery shared by the optimised (white-box) and black-box attacks.

Both attacks evaluate candidates exactly (the aggregator run to convergence on what the attacker knows),
start from the baselines, a line search towards the far bounds and a reliability-farming sweep, improve the
best of them with projected ascent, and return the best candidate evaluated, so they are never weaker than
the baselines on the attacker's objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from truthguard.attacks.problem import AttackProblem
from truthguard.core.backend import NUMPY
from truthguard.core.segments import segment_std

__all__ = [
    "FARMING_RANKINGS",
    "FARMING_STEPS",
    "ProjectedAdam",
    "Search",
    "explore",
    "explore_budget",
    "farming",
    "farming_budget",
    "farming_rankings",
    "line_search",
    "starting_candidates",
]

FloatArray = npt.NDArray[np.float64]


@dataclass
class Search:
    """Exact evaluations of candidates on the attacker's view, remembering the best ones.

    Each candidate belongs to a family (by default the first word of its stage: ``"line"`` for
    ``"line 0.300"``; the farming sweep uses one family per ranking, ``"farm gap"``). The leaders are the
    best candidate of each family, so restarts of the ascent begin in different regions rather than at
    near-copies of one candidate (a farming sweep's neighbours differ by a task or two).

    Attributes:
        keep: How many leaders to remember (starting points for ascent).
        leaders: ``(objective, stage, values, family)`` of the best candidate of each of the ``keep`` best
            families, best first.
        trace: ``(stage, objective)`` of every evaluation, in order.
    """

    problem: AttackProblem
    aggregator: Any
    keep: int = 1
    leaders: list[tuple[float, str, FloatArray, str]] = field(default_factory=list)
    trace: list[tuple[str, float]] = field(default_factory=list)
    #: A progress bar (:mod:`truthguard.core.progress`) ticked by every evaluation and ascent step, or None.
    bar: Any = None

    def tick(self, stage: str) -> None:
        """Count one unit of work (an evaluation, a gradient step) on the progress bar, with the best so far."""
        if self.bar is not None:
            self.bar.set_postfix_str(f"{stage}, best {self.best_score:.6g}", refresh=False)
            self.bar.update(1)

    def evaluate(self, values: FloatArray, stage: str, family: str | None = None) -> float:
        """The attacker's objective for ``values`` (one per slot) with the converged aggregator.

        Values are clipped to the bounds and slots on tasks the attacker does not know set to their upper
        bound first, so every candidate is a valid attack.
        """
        problem = self.problem
        values = np.clip(values, problem.low, problem.high)
        values[~problem.known_slots] = problem.high[~problem.known_slots]
        score = problem.objective(self.aggregator, values)
        self.trace.append((stage, score))
        family = family or stage.split(" ", 1)[0]
        rival = next((i for i, leader in enumerate(self.leaders) if leader[3] == family), None)
        if rival is None or score > self.leaders[rival][0]:
            if rival is not None:
                del self.leaders[rival]
            self.leaders.append((score, stage, values, family))
            # Stable sort: among equal objectives the earlier candidate (a baseline before a search stage) leads.
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
    """The baselines, as candidates.

    ``random`` is the first draw from ``rng``, exactly what :class:`~truthguard.attacks.RandomAttack` produces
    with the same seed; ``maximum`` and ``far`` are :class:`~truthguard.attacks.MaximumAttack`'s two modes.
    For a targeted goal, ``aimed`` takes the bound beyond each target and agrees with the estimate on every
    other task.
    """
    random = rng.uniform(problem.low, problem.high)
    far = problem.far_bound()
    reference = problem.reference_per_slot()
    candidates = {"random": random, "maximum": problem.high.copy(), "far": far}
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


#: Steps :math:`\lambda` towards the far bound that the farming sweep tries on the pushed tasks (the full
#: push last: every ranking is swept with it).
FARMING_STEPS = (0.5, 0.75, 1.0)


#: The names of :func:`farming_rankings`' rankings, in the order the sweep tries them.
FARMING_RANKINGS = ("gap", "gap/spread", "gap/sqrt(spread)", "gap*spread")


def farming_rankings(problem: AttackProblem) -> dict[str, FloatArray]:
    r"""Rankings of the slots for :func:`farming`, from what any attacker sees (no gradient).

    ``gap`` is the distance from the estimate to the far bound (how far the slot's task can be moved).
    The others weigh it by :math:`s_m`, the spread (standard deviation) of the known honest answers to the
    task: methods that measure a worker's error relative to each task's spread (CRH's and GTM's
    normalisation) charge less weight for a push where honest workers disagree, so ``gap/spread`` and
    ``gap/sqrt(spread)`` favour those tasks, and ``gap*spread`` favours them for methods that do not.
    No one ranking wins everywhere (against GTM at 10 %: ``gap`` on Emotion, 32.6 per task against 27.3
    for ``gap/spread``; ``gap/spread`` on Weather, 7.2 against 3.6), so the sweep tries each.
    """
    honest = problem.view_honest
    counts = honest.task_counts().astype(np.float64)
    spread = np.asarray(segment_std(NUMPY, honest.value, honest.task, honest.n_tasks, counts, fallback=0.0))
    positive = spread[spread > 0]
    # Tasks whose honest answers all agree: the least spread seen (pushing there is the most conspicuous).
    spread = np.where(spread > 0, spread, positive.min() if positive.size else 1.0)
    per_slot = np.ones(problem.n_slots)
    known = problem.known_slots
    per_slot[known] = spread[problem.slot_view_task[known]]
    gap = np.abs(problem.far_bound() - problem.reference_per_slot())
    return dict(zip(FARMING_RANKINGS, (gap, gap / per_slot, gap / np.sqrt(per_slot), gap * per_slot), strict=True))


def farming(search: Search, rankings: Mapping[str, FloatArray], points: int, refine: int) -> None:
    r"""Reliability farming: agree with the estimate on most tasks, push hard on the most promising ones.

    Each malicious worker answers the reference estimate :math:`\hat x_m` on most of its tasks, which earns it
    a small estimated error and so a large weight, and spends that weight on its ``n`` slots of highest
    promise under a ranking (``rankings``: name to one score per slot, e.g. the gap between the estimate
    and the far bound), answering :math:`\hat x_m + \lambda (b_m - \hat x_m)` there. Only slots the goal
    wants moved (every slot for deviation, target tasks for a targeted goal) on tasks the attacker knows are
    ever pushed; with ``tasks_per_worker`` below all tasks, a worker farms and pushes only on the tasks it
    answers.

    The sweep evaluates, for each ranking, ``points`` values of ``n`` spaced geometrically from 1 to the most
    slots any worker can push, with a full push (:math:`\lambda = 1`); then the best ranking's grid with the
    other steps of :data:`FARMING_STEPS`; then it refines the best ``n`` by ``refine`` rounds of bracketing
    between its neighbours. Refining matters: against GTM the objective grows with ``n`` up to a cliff where
    the malicious workers' estimated variance overtakes the honest workers' and their weight collapses
    (Emotion, 10 %: 32.0 per task at n = 215, 13.8 at n = 220), and the best ``n`` sits just before it.
    """
    problem = search.problem
    reference = problem.reference_per_slot()
    far = problem.far_bound()
    pushable = problem.pushed() & problem.known_slots & (far != reference)
    if not pushable.any() or points == 0:
        return
    most = int(np.bincount(problem.slot_worker[pushable]).max())
    grid = [int(n) for n in np.unique(np.rint(np.geomspace(1, most, points)))]
    ranks = {name: _rank_within_workers(promise, problem.slot_worker, pushable) for name, promise in rankings.items()}
    scores: dict[tuple[str, float, int], float] = {}

    def evaluate(ranking: str, step: float, n: int) -> float:
        if (ranking, step, n) not in scores:
            push = ranks[ranking] < n
            values = np.where(push, reference + step * (far - reference), reference)
            stage = f"farm {ranking} n={n} step={step:g}"
            scores[ranking, step, n] = search.evaluate(values, stage, family=f"farm {ranking}")
        return scores[ranking, step, n]

    full = FARMING_STEPS[-1]
    for ranking in rankings:
        for n in grid:
            evaluate(ranking, full, n)
    ranking = max(scores, key=lambda key: scores[key])[0]
    for step in FARMING_STEPS[:-1]:
        for n in grid:
            evaluate(ranking, step, n)
    ranking, step, best = max(scores, key=lambda key: scores[key])
    at = grid.index(best)
    low, high = grid[max(at - 1, 0)], grid[min(at + 1, len(grid) - 1)]
    for _ in range(refine):
        for below in (True, False):
            mid = (low + best) // 2 if below else (best + high + 1) // 2
            if mid in (low, best, high):
                continue
            if evaluate(ranking, step, mid) > scores[ranking, step, best]:
                low, high = (low, best) if mid < best else (best, high)
                best = mid
            elif mid < best:
                low = mid
            else:
                high = mid


def farming_budget(rankings: int, points: int, refine: int) -> int:
    """The most evaluations :func:`farming` makes (for a progress bar's total)."""
    return (rankings + len(FARMING_STEPS) - 1) * points + 2 * refine if points else 0


def explore(
    search: Search,
    starts: Mapping[str, FloatArray],
    line_points: int,
    rankings: Callable[[], Mapping[str, FloatArray]],
    farming_points: int,
    farming_refine: int,
) -> bool:
    """The stages both search attacks run before their ascent: the baselines, the line search, farming.

    ``rankings`` is called only when farming runs (the white-box attack's needs a gradient). Returns whether
    the attacker knows any task, i.e. whether there is anything to ascend on.
    """
    for stage, values in starts.items():
        search.evaluate(values, stage)
    if not search.problem.known_slots.any():
        return False
    line_search(search, line_points)
    if farming_points:
        farming(search, rankings(), farming_points, farming_refine)
    return True


def explore_budget(starts: Mapping[str, FloatArray], line_points: int, rankings: int, points: int, refine: int) -> int:
    """The most evaluations :func:`explore` makes (for a progress bar's total)."""
    return len(starts) + line_points + farming_budget(rankings, points, refine)


def _rank_within_workers(key: FloatArray, worker: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_]) -> FloatArray:
    """Each slot's rank (0 = largest ``key``) among its worker's valid slots; infinity for invalid slots.

    Ties keep slot order (task order), so the ranking is deterministic.
    """
    order = np.lexsort((-np.where(valid, key, -np.inf), worker))
    sorted_worker = worker[order]
    first = np.searchsorted(sorted_worker, sorted_worker)
    rank = np.empty(len(key), dtype=np.float64)
    rank[order] = np.arange(len(key)) - first
    rank[~valid] = np.inf
    return rank


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
