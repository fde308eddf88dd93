r"""Checks of a fitted estimate that a user should hear about: tasks dominated by a single far-off answer.

Reliability-weighted methods weight *workers*, not answers: one absurd answer (a typing slip of six orders
of magnitude, a sentinel value) from a worker who is otherwise reliable moves its task's estimate almost all
the way. That is the methods' nature, not a bug, but the result deserves a warning naming the tasks.

A task :math:`m` with at least three answers is *dominated from above* when its estimate lies beyond every
answer but the largest, by more than ``factor`` times the scale of those other answers:

.. math::
    \hat x_m - a^{(2)}_m > c \cdot \max\big(a^{(2)}_m - a^{(n)}_m,\; |a^{(2)}_m|,\; |a^{(n)}_m|,\; s\big),

where :math:`a^{(1)} \ge a^{(2)} \ge \dots \ge a^{(n)}` are its answers, :math:`c` is ``factor`` (10: an order
of magnitude) and :math:`s` a typical spread: the median over tasks of the mean absolute deviation of their
answers from their estimate (robust to a minority of dominated tasks), so that answers near zero are not judged
against zero. *Dominated from below* mirrors it. A median, or a trimmed mean that cuts one answer per end, can
never be dominated this way.

Cost: a dominated estimate has at most one answer beyond it, so one pass counting the answers above and below
each estimate leaves a handful of candidate tasks, and only theirs are examined further: at 10 million answers
the vectorised pass costs 0.2–0.7 s here, the compiled pass taken from 10^6 answers on
(:mod:`truthguard.core.kernels`) about 0.05 s.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from truthguard.core.answers import Answers
from truthguard.core.backend import NUMPY
from truthguard.core.kernels import compiled_applies, in_lanes, kernels, lanes, task_starts

__all__ = ["dominated_tasks"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _two_largest(value: FloatArray, starts: IntArray, task: IntArray) -> tuple[FloatArray, FloatArray]:
    """Largest and second-largest value of each contiguous segment (segments of one value: ``-inf``)."""
    top = np.maximum.reduceat(value, starts)
    positions = np.arange(value.size)
    first_top = np.minimum.reduceat(np.where(value == top[task], positions, value.size), starts)
    rest = value.copy()
    rest[first_top] = -np.inf
    return top, np.maximum.reduceat(rest, starts)


def dominated_tasks(answers: Answers, estimates: npt.ArrayLike, factor: float = 10.0) -> IntArray:
    """Codes of the tasks whose estimate one answer dominates (see the module's description).

    Args:
        answers: The answers the estimates were fitted on.
        estimates: One estimate per task code.
        factor: How many times farther out than the other answers' scale counts as dominated.
    """
    estimate = np.asarray(estimates, dtype=np.float64)
    counts = answers.task_counts()
    starts = np.cumsum(counts) - counts  # answers are sorted by task: each task is one contiguous segment
    if compiled_applies(NUMPY, answers.value):  # one compiled pass instead of five over per-answer temporaries
        starts_of = task_starts(counts)
        above, below = np.empty(answers.n_tasks, dtype=np.int64), np.empty(answers.n_tasks, dtype=np.int64)
        total = np.empty(answers.n_tasks)
        compiled = kernels().around_estimates
        in_lanes(lambda first, end: compiled(answers.value, starts_of, estimate, first, end, above, below, total),
                 lanes(starts_of))  # fmt: skip
    else:
        per_answer = np.repeat(estimate, counts)
        above = np.add.reduceat((answers.value > per_answer).view(np.uint8), starts, dtype=np.int64)
        below = np.add.reduceat((answers.value < per_answer).view(np.uint8), starts, dtype=np.int64)
        with np.errstate(over="ignore"):  # an absurd answer's deviation may overflow; the median ignores it
            total = np.add.reduceat(np.abs(answers.value - per_answer), starts)
    eligible = counts >= 3
    candidates = np.flatnonzero(eligible & ((above <= 1) | (below <= 1)))
    if candidates.size == 0:
        return np.zeros(0, dtype=np.int64)
    deviation = total / counts
    typical = float(np.median(deviation[eligible]))
    sub_counts = counts[candidates]
    sub_starts = np.cumsum(sub_counts) - sub_counts
    sub_task = np.repeat(np.arange(candidates.size), sub_counts)
    # The candidates' answers, still in task order, read by position (not through a mask over every answer).
    values = answers.value[np.arange(sub_task.size) + (starts[candidates] - sub_starts)[sub_task]]
    top, second_top = _two_largest(values, sub_starts, sub_task)
    negated_bottom, negated_second = _two_largest(-values, sub_starts, sub_task)
    bottom, second_bottom = -negated_bottom, -negated_second
    # Differences of finite answers can overflow to +-inf (never NaN), and the comparisons below stay right:
    # an estimate infinitely far out is dominated, a scale that overflows dominates nothing.
    with np.errstate(over="ignore"):
        up_scale = np.maximum(np.maximum(second_top - bottom, typical), np.maximum(np.abs(second_top), np.abs(bottom)))
        down_scale = np.maximum(
            np.maximum(top - second_bottom, typical), np.maximum(np.abs(top), np.abs(second_bottom))
        )
        mine = estimate[candidates]
        dominated = (mine - second_top > factor * up_scale) | (second_bottom - mine > factor * down_scale)
    codes: IntArray = candidates[dominated].astype(np.int64)
    return codes
