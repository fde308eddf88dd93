"""The compiled loops of :mod:`truthguard.core.kernels` (imported only when a large fit needs them)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from truthguard.core.segments import scaled_square

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
