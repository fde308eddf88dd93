"""The compiled loops of :mod:`truthguard.core.kernels` (imported only when a large fit needs them)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from truthguard.core.formulas import scaled_square

_scaled_square = numba.njit(cache=True, inline="always")(scaled_square)


@numba.njit(cache=True)
def weighted_sums(values: Any, worker: Any, starts: Any, worker_weights: Any) -> tuple[Any, Any]:
    """Per task, the sum of its answers times their workers' weights, and the sum of those weights."""
    n_tasks = starts.shape[0] - 1
    weighted = np.zeros(n_tasks)
    total = np.zeros(n_tasks)
    for m in range(n_tasks):
        answers_weighted = 0.0
        answers_total = 0.0
        for k in range(starts[m], starts[m + 1]):
            weight = worker_weights[worker[k]]
            answers_weighted += weight * values[k]
            answers_total += weight
        weighted[m] = answers_weighted
        total[m] = answers_total
    return weighted, total


@numba.njit(cache=True)
def scaled_square_sums(values: Any, centers: Any, scales: Any, starts: Any, worker: Any, n_workers: int) -> Any:
    """Per worker, the sum over its answers of ``scaled_square(answer, centers[task], scales[task])``."""
    sums = np.zeros(n_workers)
    for m in range(starts.shape[0] - 1):
        center = centers[m]
        scale = scales[m]
        for k in range(starts[m], starts[m + 1]):
            sums[worker[k]] += _scaled_square(values[k], center, scale)
    return sums


@numba.njit(cache=True)
def around_estimates(values: Any, starts: Any, estimates: Any) -> tuple[Any, Any, Any]:
    """Per task, its answers above its estimate, those below, and the sum of their absolute deviations."""
    n_tasks = starts.shape[0] - 1
    above = np.zeros(n_tasks, dtype=np.int64)
    below = np.zeros(n_tasks, dtype=np.int64)
    deviation = np.zeros(n_tasks)
    for m in range(n_tasks):
        estimate = estimates[m]
        total = 0.0
        for k in range(starts[m], starts[m + 1]):
            value = values[k]
            if value > estimate:
                above[m] += 1
            elif value < estimate:
                below[m] += 1
            total += abs(value - estimate)
        deviation[m] = total
    return above, below, deviation


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


@numba.njit(cache=True)
def medians(values: Any, starts: Any) -> Any:
    """Per task, the median of its answers: the mean of its two middle values once sorted (one for an odd count)."""
    n_tasks = starts.shape[0] - 1
    longest = 0
    for m in range(n_tasks):
        longest = max(longest, starts[m + 1] - starts[m])
    buffer = np.empty(longest)
    result = np.empty(n_tasks)
    for m in range(n_tasks):
        first, count = starts[m], starts[m + 1] - starts[m]
        for j in range(count):
            buffer[j] = values[first + j]
        ordered = buffer[:count]
        if count <= _FEW:
            _insertion_sort(ordered)
        else:
            ordered.sort()
        result[m] = 0.5 * (ordered[(count - 1) // 2] + ordered[count // 2])
    return result
