"""Summaries merged across partitions (core.summaries): the merge of the parts equals the summary of the whole."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from truthguard.core import summaries
from truthguard.core.backend import NUMPY
from truthguard.core.sampling import uniform_stream
from truthguard.core.summaries import Largest, Moments, merge


@pytest.mark.parametrize("n_parts", [2, 3, 17])
def test_merged_moments_equal_those_of_all_values(n_parts: int) -> None:
    rng = np.random.default_rng(n_parts)
    values = 1e6 + rng.normal(0.0, 3.0, 5_000)  # a large mean: naive sums of squares would lose digits
    cuts = np.sort(rng.choice(np.arange(1, values.size), n_parts - 1, replace=False))
    merged = merge([Moments.of(NUMPY, part) for part in np.split(values, cuts)])
    # Independent reference: NumPy's own mean and variance of all values.
    assert merged.count == values.size
    assert merged.mean == pytest.approx(values.mean(), rel=1e-14)
    assert merged.m2 / merged.count == pytest.approx(values.var(), rel=1e-10)
    assert float(merged.std(NUMPY)) == pytest.approx(values.std(), rel=1e-10)


def test_long_arrays_are_taken_a_chunk_at_a_time_with_the_same_moments(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    values = 1e6 + rng.normal(0.0, 3.0, 10_001)
    whole = Moments.of(NUMPY, values)
    monkeypatch.setattr(summaries, "CHUNK", 1_000)  # 11 chunks, the last of one value
    chunked = Moments.of(NUMPY, values)
    assert chunked.count == whole.count == values.size
    assert chunked.mean == pytest.approx(values.mean(), rel=1e-14)
    assert chunked.m2 == pytest.approx(whole.m2, rel=1e-10)
    assert chunked.m2 / chunked.count == pytest.approx(values.var(), rel=1e-10)
    assert Moments.of(NUMPY, np.full(2_500, 4.25)).m2 == 0.0  # equal values still spread by exactly 0


def test_equal_values_have_unit_std_in_any_partition() -> None:
    parts = [Moments.of(NUMPY, np.full(n, 2.5)) for n in (1, 4, 7)]
    merged = merge(parts)
    assert merged.m2 == 0.0
    assert float(merged.std(NUMPY)) == 1.0


def test_one_summary_is_returned_unchanged() -> None:
    summary = (np.arange(3.0), Moments.of(NUMPY, np.arange(4.0)))
    assert merge([summary]) is summary


@dataclass(frozen=True)
class _Summary:
    sums: np.ndarray
    total: float
    moments: Moments
    nothing: None = None


def test_structures_merge_field_by_field() -> None:
    a = _Summary(np.array([1.0, 2.0]), 3.0, Moments.of(NUMPY, np.array([1.0, 2.0])))
    b = _Summary(np.array([10.0, 20.0]), 4.0, Moments.of(NUMPY, np.array([3.0])))
    merged = merge([a, b])
    np.testing.assert_array_equal(merged.sums, [11.0, 22.0])
    assert merged.total == 7.0
    assert merged.moments.count == 3 and merged.moments.mean == 2.0 and merged.moments.m2 == 2.0
    assert merged.nothing is None
    assert merge([(1.0, {"a": 2.0}), (3.0, {"a": 5.0})]) == (4.0, {"a": 7.0})


@pytest.mark.parametrize(("seed", "start", "n"), [(0, 0, 10), (7, 137, 50), (3, 999, 1)])
def test_uniform_stream_is_a_window_of_one_seeded_draw(seed: int, start: int, n: int) -> None:
    # A partition's share of MWA's per-answer draws: the window of one default_rng draw of the whole.
    whole = np.random.default_rng(seed).random(start + n)
    np.testing.assert_array_equal(uniform_stream(seed, start, n), whole[start:])


def test_largest_keeps_the_largest() -> None:
    assert merge([Largest(1.0), Largest(3.5), Largest(-2.0)]) == Largest(3.5)
    assert merge([(np.ones(2), Largest(0.5)), (np.ones(2), Largest(0.25))])[1] == Largest(0.5)
