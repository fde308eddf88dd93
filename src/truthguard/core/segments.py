"""Per-segment statistics over flat answer arrays: the building blocks every aggregator is written with.

A *segment* is the set of answers sharing a task (or a worker) code. Each function takes the backend ``be``
first (see :mod:`truthguard.core.backend`), uses only ``be.xp`` and ``be.segment_sum``, never updates arrays in
place and never branches on array values, so the same code runs on NumPy and, for gradients, on JAX.
Every segment passed in must be non-empty.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from truthguard.core.backend import Array, ArrayBackend
from truthguard.core.formulas import scaled_square, standardized, weighted_mean_of_sums
from truthguard.core.kernels import compiled_applies, in_lanes, kernels, lanes, task_starts
from truthguard.core.summaries import Moments, merge

__all__ = [
    "overall_std",
    "scaled_square",
    "segment_mean",
    "segment_mean_nearest",
    "segment_median",
    "segment_order",
    "segment_scaled_square_sums",
    "segment_standardized",
    "segment_std",
    "segment_trimmed_mean",
    "segment_weighted_mean",
    "segment_weighted_mean_and_scaled_square_sums",
    "segment_weighted_mean_of_workers",
    "segment_weighted_mean_without",
    "segment_weighted_median",
]

# Ties at exactly half the weight are detected with this relative slack (cumulative sums are not exact).
_HALF_SLACK = 1e-12


def segment_mean(be: ArrayBackend, values: Array, segments: Array, n_segments: int, counts: Array) -> Array:
    """Plain mean per segment: ``sum(values) / counts``."""
    return be.segment_sum(values, segments, n_segments) / counts


def segment_weighted_mean(
    be: ArrayBackend,
    values: Array,
    weights: Array,
    segments: Array,
    n_segments: int,
    fallback: Array,
    prior_weight: float = 0.0,
    prior_value: float = 0.0,
) -> Array:
    r"""Weighted mean per segment, :math:`(\lambda \mu_0 + \sum_i w_i x_i) / (\lambda + \sum_i w_i)`.

    :math:`\lambda` (``prior_weight``) and :math:`\mu_0` (``prior_value``) add one pseudo-answer to every
    segment: the posterior mean of a Gaussian with prior :math:`N(\mu_0, 1/\lambda)` when the weights are
    precisions. With the default :math:`\lambda = 0` it is the plain weighted mean. Segments whose weights
    (prior included) sum to zero get ``fallback`` (e.g. the plain mean) instead of 0/0.
    """
    weighted = be.segment_sum(weights * values, segments, n_segments)
    total = be.segment_sum(weights, segments, n_segments)
    return weighted_mean_of_sums(weighted, total, fallback, prior_weight, prior_value, be.xp.where)


def segment_weighted_mean_of_workers(
    be: ArrayBackend,
    claims_value: Array,
    worker_weights: Array,
    worker: Array,
    task: Array,
    task_counts: Array,
    fallback: Array,
    prior_weight: float = 0.0,
    prior_value: float = 0.0,
) -> Array:
    """:func:`segment_weighted_mean` per task of answers sorted by task, each weighted by its worker's weight
    (``worker_weights[worker]``): the truth step of the inverse-variance methods and CRH.

    From :data:`~truthguard.core.kernels.COMPILED_FROM` answers on, NumPy sums in one compiled pass over the
    answers (:mod:`truthguard.core.kernels`), with no per-answer temporary, in the same order as the
    vectorised sums: the same bits.
    """
    if not compiled_applies(be, claims_value):
        return segment_weighted_mean(
            be, claims_value, worker_weights[worker], task, task_counts.shape[0], fallback, prior_weight, prior_value
        )
    starts = task_starts(task_counts)
    weighted, total = np.empty(task_counts.shape[0]), np.empty(task_counts.shape[0])
    compiled = kernels().weighted_sums
    in_lanes(lambda first, end: compiled(claims_value, worker, starts, worker_weights, first, end, weighted, total),
             lanes(starts))  # fmt: skip
    return weighted_mean_of_sums(weighted, total, fallback, prior_weight, prior_value, be.xp.where)


def segment_scaled_square_sums(
    be: ArrayBackend,
    claims_value: Array,
    centers: Array,
    scales: Array,
    task: Array,
    task_counts: Array,
    worker: Array,
    n_workers: int,
) -> Array:
    r"""Per worker, :math:`\sum_m` :func:`scaled_square` (answer, ``centers[m]``, ``scales[m]``) over its answers,
    for answers sorted by task: the distances of CRH's and the residuals of the inverse-variance methods'
    weight steps. Compiled from :data:`~truthguard.core.kernels.COMPILED_FROM` answers on (the same bits);
    from :data:`~truthguard.core.kernels.LANES_FROM` on, added lane by lane (:func:`~truthguard.core.kernels.lanes`)."""
    if compiled_applies(be, claims_value):
        starts = task_starts(task_counts)
        compiled = kernels().scaled_square_sums
        return merge(in_lanes(
            lambda first, end: compiled(claims_value, centers, scales, starts, worker, n_workers, first, end),
            lanes(starts),
        ))  # fmt: skip
    terms = scaled_square(claims_value, centers[task], scales[task])
    starts = task_starts(task_counts)
    ranges = lanes(starts)
    if len(ranges) == 1:
        return be.segment_sum(terms, worker, n_workers)
    return merge([
        be.segment_sum(terms[starts[first] : starts[end]], worker[starts[first] : starts[end]], n_workers)
        for first, end in ranges
    ])  # fmt: skip


def segment_weighted_mean_and_scaled_square_sums(
    be: ArrayBackend,
    claims_value: Array,
    worker_weights: Array,
    worker: Array,
    task: Array,
    task_counts: Array,
    fallback: Array,
    scales: Array,
    n_workers: int,
    prior_weight: float = 0.0,
    prior_value: float = 0.0,
) -> tuple[Array, Array]:
    """:func:`segment_weighted_mean_of_workers`, then :func:`segment_scaled_square_sums` around those means
    (``scales`` per task): the truth step of CRH and of the inverse-variance methods with the per-worker sums
    of their next weight step, what one iteration of a fit reads the answers for.

    From :data:`~truthguard.core.kernels.COMPILED_FROM` answers on, NumPy does both in one compiled pass:
    each task's mean, then its answers' residuals while they are still in cache, so an iteration reads the
    answers once instead of twice; the same formulas, in the same order: the same bits.
    """
    if not compiled_applies(be, claims_value):
        means = segment_weighted_mean_of_workers(
            be, claims_value, worker_weights, worker, task, task_counts, fallback, prior_weight, prior_value
        )
        return means, segment_scaled_square_sums(be, claims_value, means, scales, task, task_counts, worker, n_workers)
    starts = task_starts(task_counts)
    means = np.empty(task_counts.shape[0])
    compiled = kernels().weighted_means_and_scaled_square_sums
    sums = merge(in_lanes(
        lambda first, end: compiled(
            claims_value, worker, starts, worker_weights, fallback, float(prior_weight), float(prior_value), scales,
            n_workers, first, end, means,
        ),
        lanes(starts),
    ))  # fmt: skip
    return means, sums


def segment_weighted_mean_without(
    be: ArrayBackend, values: Array, weights: Array, segments: Array, n_segments: int, fallback: Array
) -> Array:
    r"""Per answer, its segment's weighted mean without it: :math:`(\sum_j w_j x_j - w_i x_i) / (W - w_i)`,
    the leave-one-out estimate at fixed weights; ``fallback`` (per segment) where nothing else weighs."""
    xp = be.xp
    total = be.segment_sum(weights, segments, n_segments)
    weighted = be.segment_sum(weights * values, segments, n_segments)
    rest = total[segments] - weights
    positive = rest > 0
    return xp.where(
        positive, (weighted[segments] - weights * values) / xp.where(positive, rest, 1.0), fallback[segments]
    )


def segment_std(
    be: ArrayBackend,
    values: Array,
    segments: Array,
    n_segments: int,
    counts: Array,
    floor: float = 0.0,
    fallback: Array | float = 1.0,
) -> Array:
    """Population standard deviation (ddof = 0) per segment of values sorted by segment (``counts`` each),
    two-pass for accuracy.

    Segments whose standard deviation is not above ``floor`` (a constant segment, a single answer) get
    ``fallback`` (1.0 unless given; when positive, dividing by the result is always safe). From
    :data:`~truthguard.core.kernels.COMPILED_FROM` answers on the passes are compiled, each segment's answers
    read while in cache and no per-answer temporary: the same bits.
    """
    xp = be.xp
    if compiled_applies(be, values):
        starts = task_starts(counts)
        variance = np.empty(n_segments)
        compiled = kernels().spreads
        in_lanes(lambda first, end: compiled(values, starts, counts, first, end, variance), lanes(starts))
    else:
        mean = segment_mean(be, values, segments, n_segments, counts)
        # One correction pass makes the mean of a constant segment exactly its value (sum / count is not), so a
        # constant segment's spread is exactly 0 rather than rounding noise.
        mean = mean + be.segment_sum(values - mean[segments], segments, n_segments) / counts
        variance = be.segment_sum(scaled_square(values, mean[segments], 1.0), segments, n_segments) / counts
    spread = variance > floor * floor
    return xp.where(spread, xp.sqrt(xp.where(spread, variance, 1.0)), fallback)


def segment_standardized(
    be: ArrayBackend, values: Array, segments: Array, n_segments: int, counts: Array, center: Array, scale: Array
) -> tuple[Array, Array]:
    """Each answer in its segment's working scale, :func:`~truthguard.core.formulas.standardized` with the
    segment's ``center`` and ``scale``, and the plain mean per segment of those (values sorted by segment,
    ``counts`` each). Compiled from :data:`~truthguard.core.kernels.COMPILED_FROM` answers on: one pass
    writing only the result, the same bits."""
    if compiled_applies(be, values):
        starts = task_starts(counts)
        working, sums = np.empty(values.shape[0]), np.empty(n_segments)
        compiled = kernels().standardized_values
        in_lanes(lambda first, end: compiled(values, starts, center, scale, first, end, working, sums), lanes(starts))
        return working, sums / counts
    working = standardized(values, center[segments], scale[segments])
    return working, segment_mean(be, working, segments, n_segments, counts)


def overall_std(be: ArrayBackend, values: Array) -> Array:
    """Standard deviation (ddof = 0) of all values as one segment; 1.0 when they are all equal.

    With no spread there is no scale that is both translation- and scale-invariant: 1.0 keeps the methods built
    on it translation-equivariant in that degenerate case (a change of unit then moves only the guards). Over
    partitioned answers, merge the partitions' :class:`~truthguard.core.summaries.Moments` and take theirs.
    """
    return Moments.of(be, values).std(be)


def segment_order(be: ArrayBackend, values: Array, segments: Array, n_segments: int) -> Array:
    """Permutation sorting answers by segment, then by value (ties keep their order).

    From :data:`~truthguard.core.kernels.COMPILED_FROM` answers on, answers already sorted by segment (as
    answers and claims are, by task) are ordered in one compiled pass, each segment sorted apart in lanes on
    both cores: the same permutation (0.33 s on 11 million answers in segments of 1,111, against 0.8–1.1 s).
    """
    if compiled_applies(be, values) and not np.any(segments[1:] < segments[:-1]):
        starts = task_starts(np.bincount(segments, minlength=n_segments))
        order = np.empty(values.shape[0], dtype=np.int64)
        compiled = kernels().segment_orders
        in_lanes(lambda first, end: compiled(values, starts, first, end, order), lanes(starts))
        return order
    return be.segment_argsort(values, segments, n_segments)


def _sorted_layout(be: ArrayBackend, segments: Array, n_segments: int) -> tuple[Array, Array]:
    """Counts per segment and the position where each segment starts in segment-sorted order (``segments`` in
    any order)."""
    xp = be.xp
    counts = be.segment_sum(xp.ones(segments.shape[0]), segments, n_segments)
    starts = xp.cumsum(counts) - counts
    return counts, starts


def segment_weighted_median(
    be: ArrayBackend,
    values: Array,
    weights: Array | None,
    segments: Array,
    n_segments: int,
    order: Array | None = None,
) -> Array:
    r"""Weighted median per segment: the value :math:`m` minimising :math:`\sum_i w_i |x_i - m|`.

    With values sorted and cumulative weights :math:`c_k`, the median is the first value whose :math:`c_k`
    reaches half the segment's total weight :math:`W/2`. When some :math:`c_k` equals :math:`W/2` exactly, the
    minimisers form an interval and the midpoint of its ends is returned, so equal weights give the ordinary
    median (mean of the two middle values for an even count). Segments whose weights are all zero use unit
    weights. ``weights=None`` means unit weights: the ordinary median, read off the middle positions directly.
    ``order`` is :func:`segment_order` of the same values, when it is already known.
    """
    xp = be.xp
    if order is None:
        order = segment_order(be, values, segments, n_segments)
    if weights is None:
        # Counts do not depend on the order; only the two middle answers of each segment are read (and, under
        # differentiation, receive a gradient), not every answer in sorted order.
        counts, starts = _sorted_layout(be, segments, n_segments)
        low_index = order[(starts + xp.floor((counts - 1) / 2)).astype(int)]
        high_index = order[(starts + xp.floor(counts / 2)).astype(int)]
        return 0.5 * (values[low_index] + values[high_index])
    v = values[order]
    s = segments[order]
    w = weights[order]
    total = be.segment_sum(w, s, n_segments)
    w = w + (total == 0)[s] * 1.0  # all-zero segments fall back to unit weights
    total = be.segment_sum(w, s, n_segments)
    counts, starts = _sorted_layout(be, s, n_segments)
    cumulative = xp.cumsum(w)
    within = cumulative - (xp.cumsum(total) - total)[s]
    half = 0.5 * total[s]
    below = be.segment_sum((within < half * (1.0 - _HALF_SLACK)) * 1.0, s, n_segments)
    upto = be.segment_sum((within <= half * (1.0 + _HALF_SLACK)) * 1.0, s, n_segments)
    low_index = (starts + below).astype(int)
    high_index = (starts + xp.minimum(upto, counts - 1)).astype(int)
    return 0.5 * (v[low_index] + v[high_index])


def segment_median(
    be: ArrayBackend,
    values: Array,
    segments: Array,
    n_segments: int,
    counts: Array,
    order_of: Callable[[], Array],
) -> Array:
    """Median per segment of values sorted by segment (``counts`` each): :func:`segment_weighted_median` with
    unit weights, whose order ``order_of()`` gives when it is needed. From
    :data:`~truthguard.core.kernels.COMPILED_FROM` answers on, NumPy sorts each segment's few values apart in
    one compiled pass instead of ordering all the answers: the same numbers, no per-answer temporary."""
    if compiled_applies(be, values):
        starts = task_starts(counts)
        medians = np.empty(counts.shape[0])
        compiled = kernels().medians
        in_lanes(lambda first, end: compiled(values, starts, first, end, medians), lanes(starts))
        return medians
    return segment_weighted_median(be, values, None, segments, n_segments, order_of())


def segment_trimmed_mean(
    be: ArrayBackend,
    values: Array,
    segments: Array,
    n_segments: int,
    trim: float,
    order: Array | None = None,
) -> Array:
    r"""Symmetric trimmed mean per segment.

    With :math:`n` answers, the :math:`k = \lfloor \beta n \rfloor` smallest and :math:`k` largest are dropped
    and the rest averaged (Huber & Ronchetti, *Robust Statistics*, 2009, §3.3); ``trim`` is :math:`\beta`, in
    [0, 0.5). ``trim = 0`` is the mean; as :math:`\beta \to 0.5` it approaches the median.
    """
    xp = be.xp
    if order is None:
        order = segment_order(be, values, segments, n_segments)
    v = values[order]
    s = segments[order]
    counts, starts = _sorted_layout(be, s, n_segments)
    rank = xp.arange(v.shape[0]) - starts[s]
    cut = xp.floor(trim * counts)
    keep = (rank >= cut[s]) & (rank < (counts - cut)[s])
    kept = be.segment_sum(keep * 1.0, s, n_segments)
    return be.segment_sum(xp.where(keep, v, 0.0), s, n_segments) / kept


def segment_mean_nearest(
    be: ArrayBackend, values: Array, center: Array, segments: Array, n_segments: int, trim: float
) -> Array:
    r"""Per segment, the mean of the :math:`n - \lfloor \beta n \rfloor` answers nearest its ``center``
    (``trim`` is :math:`\beta` in [0, 1)).

    Answers tied in distance at the boundary share the places left, each counted with weight
    (places left) / (answers tied), so that the result does not depend on the answers' order: mirror-image
    answers around the centre are kept or dropped together.
    """
    xp = be.xp
    distance = xp.abs(values - center[segments])
    order = be.segment_argsort(distance, segments, n_segments)
    s = segments[order]
    counts, starts = _sorted_layout(be, s, n_segments)
    keep = counts - xp.floor(trim * counts)
    boundary = distance[order][(starts + keep - 1).astype(int)]  # the largest distance kept
    inside = distance < boundary[segments]
    tied = distance == boundary[segments]
    n_inside = be.segment_sum(inside * 1.0, segments, n_segments)
    n_tied = be.segment_sum(tied * 1.0, segments, n_segments)
    share = (keep - n_inside) / xp.maximum(n_tied, 1.0)
    weight = xp.where(inside, 1.0, xp.where(tied, share[segments], 0.0))
    return be.segment_sum(weight * values, segments, n_segments) / keep
