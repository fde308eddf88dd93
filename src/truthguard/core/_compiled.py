"""The compiled loops of :mod:`truthguard.core.kernels` (imported only when a large fit needs them)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from truthguard.core.formulas import scaled_square, standardized, weighted_mean_of_sums

_scaled_square = numba.njit(cache=True, inline="always")(scaled_square)
_standardized = numba.njit(cache=True, inline="always")(standardized)
_weighted_mean_of_sums = numba.njit(cache=True, inline="always")(weighted_mean_of_sums)


@numba.njit(cache=True, inline="always")
def _where(condition: bool, yes: float, no: float) -> float:
    """``xp.where`` for numbers: the choice the formulas take as their ``where`` argument."""
    return yes if condition else no


# The passes below take a range of tasks [first, end) (a lane, see kernels.lanes) and release the GIL, so
# that lanes run on parallel threads; each writes its tasks' results into the output given, or returns the
# lane's per-worker sums, which the caller adds lane by lane.


@numba.njit(cache=True, inline="always")
def _task_weighted_sums(values: Any, worker: Any, worker_weights: Any, first: int, end: int) -> tuple[float, float]:
    """One task's answers (positions ``first`` to ``end``) times their workers' weights, summed; the weights'
    sum."""
    answers_weighted = 0.0
    answers_total = 0.0
    for k in range(first, end):
        weight = worker_weights[worker[k]]
        answers_weighted += weight * values[k]
        answers_total += weight
    return answers_weighted, answers_total


@numba.njit(cache=True, inline="always")
def _add_scaled_squares(sums: Any, values: Any, worker: Any, first: int, end: int, center: float, scale: float) -> None:
    """Adds to each worker's sum ``scaled_square(answer, center, scale)`` of its answers among one task's."""
    for k in range(first, end):
        sums[worker[k]] += _scaled_square(values[k], center, scale)


@numba.njit(cache=True, nogil=True)
def weighted_sums(
    values: Any, worker: Any, starts: Any, worker_weights: Any, first: int, end: int, weighted: Any, total: Any
) -> None:
    """Per task, the sum of its answers times their workers' weights, and the sum of those weights."""
    for m in range(first, end):
        weighted[m], total[m] = _task_weighted_sums(values, worker, worker_weights, starts[m], starts[m + 1])


@numba.njit(cache=True, nogil=True)
def scaled_square_sums(
    values: Any, centers: Any, scales: Any, starts: Any, worker: Any, n_workers: int, first: int, end: int
) -> Any:
    """Per worker, the sum over its answers of ``scaled_square(answer, centers[task], scales[task])``."""
    sums = np.zeros(n_workers)
    for m in range(first, end):
        _add_scaled_squares(sums, values, worker, starts[m], starts[m + 1], centers[m], scales[m])
    return sums


@numba.njit(cache=True, nogil=True, error_model="numpy")
def spreads(values: Any, starts: Any, counts: Any, first: int, end: int, variances: Any) -> None:
    """Per task, the population variance of its answers as ``segment_std`` takes it: the mean (sum / count),
    corrected once by its residuals' mean, then the mean scaled square around it; sums in answer order, as
    ``np.bincount``'s, so the bits are the vectorised ones."""
    for m in range(first, end):
        a, b, count = starts[m], starts[m + 1], counts[m]
        total = 0.0
        for k in range(a, b):
            total += values[k]
        mean = total / count
        residuals = 0.0
        for k in range(a, b):
            residuals += values[k] - mean
        mean = mean + residuals / count
        squares = 0.0
        for k in range(a, b):
            squares += _scaled_square(values[k], mean, 1.0)
        variances[m] = squares / count


@numba.njit(cache=True, nogil=True)
def standardized_values(
    values: Any, starts: Any, centers: Any, scales: Any, first: int, end: int, out: Any, sums: Any
) -> None:
    """Per answer, ``standardized(answer, centers[task], scales[task])`` into ``out``; per task, their sum."""
    for m in range(first, end):
        total = 0.0
        for k in range(starts[m], starts[m + 1]):
            working = _standardized(values[k], centers[m], scales[m])
            out[k] = working
            total += working
        sums[m] = total


@numba.njit(cache=True, nogil=True)
def weighted_means_and_scaled_square_sums(
    values: Any,
    worker: Any,
    starts: Any,
    worker_weights: Any,
    fallback: Any,
    prior_weight: float,
    prior_value: float,
    scales: Any,
    n_workers: int,
    first: int,
    end: int,
    means: Any,
) -> Any:
    """Per task, the weighted mean of its answers (``weighted_mean_of_sums`` of the sums ``weighted_sums``
    takes), into ``means``; per worker, the sum of ``scaled_square(answer, its task's mean, scales[task])``:
    both in one pass, each task's answers read once for its mean and again for their residuals while they are
    in cache."""
    sums = np.zeros(n_workers)
    for m in range(first, end):
        weighted, total = _task_weighted_sums(values, worker, worker_weights, starts[m], starts[m + 1])
        mean = _weighted_mean_of_sums(weighted, total, fallback[m], prior_weight, prior_value, _where)
        means[m] = mean
        _add_scaled_squares(sums, values, worker, starts[m], starts[m + 1], mean, scales[m])
    return sums


@numba.njit(cache=True, nogil=True)
def around_estimates(
    values: Any, starts: Any, estimates: Any, first: int, end: int, above: Any, below: Any, deviation: Any
) -> None:
    """Per task, its answers above its estimate, those below, and the sum of their absolute deviations."""
    for m in range(first, end):
        estimate = estimates[m]
        over = 0
        under = 0
        total = 0.0
        for k in range(starts[m], starts[m + 1]):
            value = values[k]
            # Counted without branches: answers fall on either side at random, and mispredicted branches
            # cost more than the whole loop otherwise does.
            over += value > estimate
            under += value < estimate
            total += abs(value - estimate)
        above[m] = over
        below[m] = under
        deviation[m] = total


@numba.njit(cache=True, nogil=True)
def segment_orders(values: Any, starts: Any, first: int, end: int, order: Any) -> None:
    """Per segment, the positions of its values in stable sorted order (ties in input order), into ``order``."""
    for m in range(first, end):
        begin = starts[m]
        within = np.argsort(values[begin : starts[m + 1]], kind="mergesort")
        for j in range(within.shape[0]):
            order[begin + j] = begin + within[j]


#: Up to this many answers a task's values are sorted by insertion (a crowd task has a handful).
_FEW = 24


@numba.njit(cache=True)
def _insertion_sort(values: Any) -> None:
    for i in range(1, values.shape[0]):
        current = values[i]
        j = i - 1
        while j >= 0 and values[j] > current:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = current


@numba.njit(cache=True, nogil=True)
def medians(values: Any, starts: Any, first: int, end: int, result: Any) -> None:
    """Per task, the median of its answers: the mean of its two middle values once sorted (one for an odd count)."""
    buffer = np.empty(_FEW)
    for m in range(first, end):
        first_answer, count = starts[m], starts[m + 1] - starts[m]
        middle = count // 2
        if count <= _FEW:
            ordered = buffer[:count]
            for j in range(count):
                ordered[j] = values[first_answer + j]
            _insertion_sort(ordered)
            low, high = ordered[(count - 1) // 2], ordered[middle]
        else:
            # Selection, not a sort (np.partition works on its own copy): the middle value, and below it the
            # largest of the lower part.
            ordered = np.partition(values[first_answer : first_answer + count], middle)
            high = ordered[middle]
            low = high if count % 2 else ordered[:middle].max()
        result[m] = 0.5 * (low + high)
