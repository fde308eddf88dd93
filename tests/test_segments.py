"""Per-segment kernels (truthguard.core.segments) against independent, plainly written computations.

Every expected value here is computed without the kernels: exact rational brute force for the weighted median,
``scipy.stats.trim_mean`` for the trimmed mean, ``numpy.std`` for the standard deviation and a Python loop over
the documented formula for the weighted mean.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from truthguard.core.backend import NUMPY
from truthguard.core.segments import (
    segment_mean,
    segment_order,
    segment_std,
    segment_trimmed_mean,
    segment_weighted_mean,
    segment_weighted_median,
)

SETTINGS = settings(max_examples=150, deadline=None)

# Values: integers or floats in a bounded range, so that tolerances relative to the data scale are meaningful.
VALUES = st.one_of(
    st.integers(-1000, 1000).map(float),
    st.floats(-1000, 1000, allow_nan=False, allow_infinity=False, allow_subnormal=False),
)
# Weights that are multiples of 1/4 are exact in binary and their cumulative sums are exact, so "exactly half
# the weight" ties are real ties both for the kernel and for the exact (Fraction) brute force.
EXACT_WEIGHTS = st.integers(0, 8).map(lambda k: k / 4)


def flatten(groups: list[list[tuple[float, float]]], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat (values, weights, segment codes) of the groups, in a random order decided by ``seed``.

    Even seeds keep each segment's answers contiguous (segment codes non-decreasing, as ``Answers.task`` is,
    which takes the backend's fast sorting path) and shuffle only within segments; odd seeds shuffle all answers
    (the general ``lexsort`` path). The kernels must give the same results either way.
    """
    values = np.array([v for group in groups for v, _ in group], dtype=np.float64)
    weights = np.array([w for group in groups for _, w in group], dtype=np.float64)
    segments = np.array([s for s, group in enumerate(groups) for _ in group], dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(len(values))
    if seed % 2 == 0:
        perm = perm[np.argsort(segments[perm], kind="stable")]
    return values[perm], weights[perm], segments[perm]


def counts_of(segments: np.ndarray, n_segments: int) -> np.ndarray:
    return np.bincount(segments, minlength=n_segments).astype(np.float64)


def scale_of(values: np.ndarray) -> float:
    return float(np.max(np.abs(values))) + 1.0


@st.composite
def weighted_groups(draw: st.DrawFn, weights: st.SearchStrategy[float] = EXACT_WEIGHTS) -> list:
    """1-6 non-empty segments of (value, weight); some with repeated values, some with all-zero weights."""
    n_segments = draw(st.integers(1, 6))
    groups = []
    for _ in range(n_segments):
        size = draw(st.integers(1, 8))
        if draw(st.booleans()):  # draw from a small pool of values: many exact ties
            pool = draw(st.lists(VALUES, min_size=1, max_size=3))
            values = [draw(st.sampled_from(pool)) for _ in range(size)]
        else:
            values = draw(st.lists(VALUES, min_size=size, max_size=size))
        all_zero = draw(st.integers(0, 4)) == 0  # the kernel falls back to unit weights on such a segment
        ws = [0.0] * size if all_zero else draw(st.lists(weights, min_size=size, max_size=size))
        groups.append(list(zip(values, ws, strict=True)))
    return groups


# ----------------------------------------------------------------------------------- order


@SETTINGS
@given(
    groups=st.lists(st.lists(VALUES, min_size=1, max_size=10), min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
)
def test_segment_order_is_lexsort(groups: list[list[float]], seed: int) -> None:
    values, _, segments = flatten([[(v, 1.0) for v in g] for g in groups], seed)
    order = segment_order(NUMPY, values, segments, len(groups))
    # Expected (docstring): sort by segment, then value, ties in input order, which is exactly numpy.lexsort.
    np.testing.assert_array_equal(order, np.lexsort((values, segments)))


def test_segment_order_ties_keep_input_order() -> None:
    # Contiguous segments (fast path) with ties: positions of equal values must stay in input order.
    values = np.array([2.0, 1.0, 2.0, 1.0, 5.0, 5.0, 4.0, 5.0])
    segments = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # Hand-sorted: segment 0 -> 1.0 at 1, 3, then 2.0 at 0, 2; segment 1 -> 4.0 at 6, then 5.0 at 4, 5, 7.
    assert segment_order(NUMPY, values, segments, 2).tolist() == [1, 3, 0, 2, 6, 4, 5, 7]


# ----------------------------------------------------------------------------------- weighted median


def brute_force_median(values: list[float], weights: list[float]) -> float:
    """Midpoint of the exact set of minimisers of sum_i w_i |x_i - v| (the documented result).

    The cost is convex and piecewise linear with kinks at the answers, so its minimisers form an interval whose
    ends are answers: evaluate the cost exactly (Fractions) at every answer and take the smallest and largest
    minimiser. All-zero weights mean unit weights (documented fallback).
    """
    if sum(weights) == 0:
        weights = [1.0] * len(weights)
    xs = [Fraction(v) for v in values]
    ws = [Fraction(w) for w in weights]
    cost = {v: sum((w * abs(x - v) for x, w in zip(xs, ws, strict=True)), Fraction(0)) for v in set(xs)}
    best = min(cost.values())
    minimisers = [v for v, c in cost.items() if c == best]
    return 0.5 * (float(min(minimisers)) + float(max(minimisers)))


@SETTINGS
@given(groups=weighted_groups(), seed=st.integers(0, 2**32 - 1))
def test_weighted_median_matches_brute_force_minimiser(groups: list, seed: int) -> None:
    values, weights, segments = flatten(groups, seed)
    result = segment_weighted_median(NUMPY, values, weights, segments, len(groups))
    # Expected: exact brute-force minimiser interval of each segment, midpoint.
    expected = [brute_force_median([v for v, _ in g], [w for _, w in g]) for g in groups]
    assert result.tolist() == expected
    # Passing a precomputed order must not change anything.
    order = segment_order(NUMPY, values, segments, len(groups))
    assert segment_weighted_median(NUMPY, values, weights, segments, len(groups), order).tolist() == expected


@SETTINGS
@given(
    groups=weighted_groups(weights=st.floats(0.001, 100, allow_nan=False, allow_infinity=False)),
    seed=st.integers(0, 2**32 - 1),
)
def test_weighted_median_arbitrary_float_weights_is_a_minimiser(groups: list, seed: int) -> None:
    # With arbitrary float weights the kernel's half-weight test has a 1e-12 relative slack, so only require
    # that the returned value is (up to that slack) a minimiser of sum_i w_i |x_i - v|, evaluated directly.
    values, weights, segments = flatten(groups, seed)
    result = segment_weighted_median(NUMPY, values, weights, segments, len(groups))
    for s, group in enumerate(groups):
        xs = np.array([v for v, _ in group])
        ws = np.array([w for _, w in group])
        if ws.sum() == 0:
            ws = np.ones_like(ws)
        assert xs.min() <= result[s] <= xs.max()
        cost = np.array([np.sum(ws * np.abs(xs - v)) for v in np.append(xs, result[s])])
        slack = 1e-9 * ws.sum() * (np.ptp(xs) + 1.0)
        assert cost[-1] <= cost[:-1].min() + slack


@SETTINGS
@given(
    groups=st.lists(st.lists(VALUES, min_size=1, max_size=9), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_weighted_median_unit_weights_is_numpy_median(groups: list[list[float]], seed: int) -> None:
    values, _, segments = flatten([[(v, 1.0) for v in g] for g in groups], seed)
    result = segment_weighted_median(NUMPY, values, np.ones_like(values), segments, len(groups))
    # Expected: numpy.median, exactly (even counts: mean of the two middle values).
    assert result.tolist() == [float(np.median(g)) for g in groups]


@pytest.mark.parametrize(
    ("values", "weights", "expected"),
    [
        # Single element: the element itself.
        ([7.5], [1.0], 7.5),
        ([7.5], [0.0], 7.5),
        # Even count with unit weights: mean of the two middle values (numpy.median([1, 2, 4, 90]) == 3).
        ([90.0, 1.0, 4.0, 2.0], [1.0, 1.0, 1.0, 1.0], 3.0),
        # Heavy first worker (3 of 6 weight units): minimisers are [1, 2], midpoint 1.5 (docstring example).
        ([1.0, 2.0, 4.0, 90.0], [3.0, 1.0, 1.0, 1.0], 1.5),
        # Weight strictly above half on one value: that value, however far the others are.
        ([1.0, 2.0, 1e6], [1.0, 3.0, 1.0], 2.0),
        # Zero weights do not count: only 2 and 3 carry weight -> minimisers [2, 3] -> 2.5.
        ([1.0, 2.0, 3.0], [0.0, 1.0, 1.0], 2.5),
        # Zero-weight answers between the weighted ones: minimisers [2, 4], midpoint 3.
        ([1.0, 2.0, 3.0, 4.0, 5.0], [0.0, 1.0, 0.0, 1.0, 0.0], 3.0),
        # All weights zero: unit weights, i.e. numpy.median([1, 2, 10]) == 2.
        ([10.0, 1.0, 2.0], [0.0, 0.0, 0.0], 2.0),
        # Ties in values: 5 carries 2 of 4 units, 6 the other 2 -> minimisers [5, 6] -> 5.5.
        ([5.0, 5.0, 6.0, 6.0], [1.0, 1.0, 1.0, 1.0], 5.5),
        # Tied value with most of the weight: 5 carries 3 of 4 units -> 5.
        ([5.0, 6.0, 5.0, 5.0], [1.0, 1.0, 1.0, 1.0], 5.0),
    ],
)
def test_weighted_median_explicit(values: list[float], weights: list[float], expected: float) -> None:
    n = len(values)
    result = segment_weighted_median(NUMPY, np.array(values), np.array(weights), np.zeros(n, dtype=np.int64), 1)
    assert result.tolist() == [expected]
    # The brute force agrees with the hand-derived value (checks the test's own oracle).
    assert brute_force_median(values, weights) == expected


def test_weighted_median_segments_are_independent() -> None:
    # Three interleaved segments; each expected value is the hand-computed weighted median of its own answers:
    # seg 0: [3, 1, 2] unit -> 2; seg 1: [10, 20] weights [1, 3] -> 20; seg 2: [-4] -> -4.
    values = np.array([3.0, 10.0, 1.0, -4.0, 20.0, 2.0])
    segments = np.array([0, 1, 0, 2, 1, 0])
    weights = np.array([1.0, 1.0, 1.0, 5.0, 3.0, 1.0])
    assert segment_weighted_median(NUMPY, values, weights, segments, 3).tolist() == [2.0, 20.0, -4.0]


# ----------------------------------------------------------------------------------- trimmed mean


@SETTINGS
@given(
    groups=st.lists(st.lists(VALUES, min_size=1, max_size=12), min_size=1, max_size=6),
    trim=st.one_of(st.sampled_from([0.0, 0.1, 0.2, 0.25, 1 / 3, 0.4, 0.49]), st.floats(0.0, 0.499)),
    seed=st.integers(0, 2**32 - 1),
)
def test_trimmed_mean_matches_scipy(groups: list[list[float]], trim: float, seed: int) -> None:
    values, _, segments = flatten([[(v, 1.0) for v in g] for g in groups], seed)
    result = segment_trimmed_mean(NUMPY, values, segments, len(groups), trim)
    # Expected: scipy.stats.trim_mean, which cuts int(trim * n) answers from each end, per segment.
    expected = np.array([scipy.stats.trim_mean(g, trim) for g in groups])
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12 * scale_of(values))
    order = segment_order(NUMPY, values, segments, len(groups))
    np.testing.assert_array_equal(segment_trimmed_mean(NUMPY, values, segments, len(groups), trim, order), result)


@pytest.mark.parametrize(
    ("values", "trim", "expected"),
    [
        # Docstring example: n=5, trim 0.2 -> cut 1 each end -> mean(2, 3, 4) = 3.
        ([1.0, 2.0, 3.0, 4.0, 100.0], 0.2, 3.0),
        # trim 0 is the plain mean: (1 + 2 + 3 + 4 + 100) / 5 = 22.
        ([1.0, 2.0, 3.0, 4.0, 100.0], 0.0, 22.0),
        # n=4, trim 0.2: floor(0.8) = 0 -> nothing cut -> mean = 26.75.
        ([1.0, 2.0, 4.0, 100.0], 0.2, 26.75),
        # n=4, trim 0.25: floor(1.0) = 1 -> mean(2, 4) = 3.
        ([100.0, 4.0, 2.0, 1.0], 0.25, 3.0),
        # Single answer: nothing can be cut (floor(0.49) = 0).
        ([-8.0], 0.49, -8.0),
        # Ties straddling the cut: sorted [1, 1, 1, 9, 9], cut 2 -> the middle 1.
        ([9.0, 1.0, 1.0, 9.0, 1.0], 0.4, 1.0),
    ],
)
def test_trimmed_mean_explicit(values: list[float], trim: float, expected: float) -> None:
    n = len(values)
    result = segment_trimmed_mean(NUMPY, np.array(values), np.zeros(n, dtype=np.int64), 1, trim)
    assert result.tolist() == [expected]
    assert scipy.stats.trim_mean(values, trim) == expected  # the oracle agrees with the hand value


# ----------------------------------------------------------------------------------- standard deviation


# No magnitudes below 1e-100: squared deviations of such values underflow to 0 (numpy.std's as well), which is
# floating-point range, not what this test is about. Differences of the remaining values square to >= 1e-240.
STD_VALUES = VALUES.map(lambda x: x if abs(x) >= 1e-100 else 0.0)


@SETTINGS
@given(
    groups=st.lists(st.lists(STD_VALUES, min_size=1, max_size=12), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_std_matches_numpy(groups: list[list[float]], seed: int) -> None:
    values, _, segments = flatten([[(v, 1.0) for v in g] for g in groups], seed)
    result = segment_std(NUMPY, values, segments, len(groups), counts_of(segments, len(groups)))
    for s, group in enumerate(groups):
        if len(group) == 1:
            # Documented: a single answer gets 1.0.
            assert result[s] == 1.0
        elif len(set(group)) == 1:
            # Constant multi-answer segments are checked in test_std_constant_segment_is_one (see the bug
            # described there); here only the "safe to divide by" part of the contract is required.
            assert result[s] > 0
        else:
            # Expected: numpy.std with ddof=0 (rounding of the two-pass sums scales with |x|).
            expected = float(np.std(group, ddof=0))
            assert result[s] == pytest.approx(expected, rel=1e-9, abs=1e-12 * scale_of(np.array(group)))


@pytest.mark.parametrize(
    "group",
    [
        [3.0, 3.0],  # integers: the mean is exact
        [-250.0] * 7,
        [0.1, 0.1, 0.1],  # 0.1 + 0.1 + 0.1 = 0.30000000000000004, / 3 != 0.1
        [0.7] * 3,
        [1e12 + 0.3] * 7,  # large offset: rounding of the mean is ~1e-4
    ],
)
def test_std_constant_segment_is_one(group: list[float]) -> None:
    # Documented in segment_std: "Segments whose standard deviation is not above floor (a constant segment, a
    # single answer) get 1.0". A constant segment's standard deviation is exactly 0 (numpy.ptp == 0), so the
    # expected value is 1.0. The constant segment sits next to a varying one to check segments stay apart.
    values = np.array([*group, 1.0, 3.0])
    segments = np.array([0] * len(group) + [1, 1])
    result = segment_std(NUMPY, values, segments, 2, counts_of(segments, 2))
    assert np.ptp(group) == 0
    assert result.tolist() == [1.0, 1.0]  # segment 1: numpy.std([1, 3]) == 1.0


def test_std_floor() -> None:
    # floor=2: numpy.std([0, 2]) = 1 is not above the floor -> 1.0; numpy.std([0, 10]) = 5 is kept.
    values = np.array([0.0, 2.0, 0.0, 10.0])
    segments = np.array([0, 0, 1, 1])
    result = segment_std(NUMPY, values, segments, 2, counts_of(segments, 2), floor=2.0)
    assert result.tolist() == [1.0, 5.0]


# ----------------------------------------------------------------------------------- weighted mean


def formula_weighted_mean(
    values: list[float], weights: list[float], fallback: float, prior_weight: float, prior_value: float
) -> float:
    """(lambda mu0 + sum w x) / (lambda + sum w), or the fallback when the denominator is 0 (docstring)."""
    denominator = prior_weight + sum(weights)
    if denominator == 0:
        return fallback
    return (prior_weight * prior_value + sum(w * x for x, w in zip(values, weights, strict=True))) / denominator


@SETTINGS
@given(
    groups=weighted_groups(weights=st.one_of(EXACT_WEIGHTS, st.floats(0.0, 50.0))),
    prior=st.one_of(
        st.just((0.0, 0.0)),
        st.tuples(st.floats(0.0, 10.0), st.floats(-1000, 1000, allow_nan=False, allow_infinity=False)),
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_weighted_mean_matches_formula(groups: list, prior: tuple[float, float], seed: int) -> None:
    prior_weight, prior_value = prior
    values, weights, segments = flatten(groups, seed)
    n_segments = len(groups)
    fallback = np.arange(n_segments, dtype=np.float64) + 0.5  # recognisable values, not a mean of anything
    result = segment_weighted_mean(
        NUMPY, values, weights, segments, n_segments, fallback, prior_weight=prior_weight, prior_value=prior_value
    )
    for s, group in enumerate(groups):
        xs, ws = [v for v, _ in group], [w for _, w in group]
        expected = formula_weighted_mean(xs, ws, float(fallback[s]), prior_weight, prior_value)
        if prior_weight + sum(ws) == 0:
            assert result[s] == expected  # the fallback, exactly
        else:
            scale = max(max(abs(x) for x in xs), abs(prior_value)) + 1.0
            assert result[s] == pytest.approx(expected, rel=1e-12, abs=1e-12 * scale)


def test_weighted_mean_explicit() -> None:
    values = np.array([1.0, 3.0, 10.0, 20.0, 4.0, 6.0])
    weights = np.array([1.0, 3.0, 0.0, 0.0, 1.0, 1.0])
    segments = np.array([0, 0, 1, 1, 2, 2])
    fallback = np.array([-1.0, -2.0, -3.0])
    # seg 0: (1*1 + 3*3) / 4 = 2.5; seg 1: all weights 0 -> fallback -2; seg 2: (4 + 6) / 2 = 5.
    assert segment_weighted_mean(NUMPY, values, weights, segments, 3, fallback).tolist() == [2.5, -2.0, 5.0]
    # With prior lambda=2, mu0=1: seg 0: (2 + 10) / 6 = 2; seg 1: (2 + 0) / 2 = 1 (the prior, no fallback);
    # seg 2: (2 + 10) / 4 = 3.
    result = segment_weighted_mean(NUMPY, values, weights, segments, 3, fallback, prior_weight=2.0, prior_value=1.0)
    assert result.tolist() == [2.0, 1.0, 3.0]


@SETTINGS
@given(
    groups=st.lists(st.lists(VALUES, min_size=1, max_size=12), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
def test_segment_mean_matches_numpy(groups: list[list[float]], seed: int) -> None:
    values, _, segments = flatten([[(v, 1.0) for v in g] for g in groups], seed)
    result = segment_mean(NUMPY, values, segments, len(groups), counts_of(segments, len(groups)))
    # Expected: numpy.mean of each segment.
    expected = np.array([np.mean(g) for g in groups])
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12 * scale_of(values))
