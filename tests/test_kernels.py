"""The compiled passes (core.kernels) give the same bits as the vectorised formulas they replace."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import truthguard.core.kernels as kernels
from truthguard.aggregators import CATD, CRH, GTM, LFCN
from truthguard.aggregators.base import Aggregator
from truthguard.core.backend import NUMPY
from truthguard.core.segments import (
    scaled_square,
    segment_order,
    segment_scaled_square_sums,
    segment_standardized,
    segment_std,
    segment_weighted_mean,
    segment_weighted_mean_and_scaled_square_sums,
    segment_weighted_mean_of_workers,
)
from truthguard.datasets import make_synthetic
from truthguard.defenses import MWA
from truthguard.errors import DominatedEstimateWarning


def _sorted_answers(seed: int, n_tasks: int = 400, n_workers: int = 37, most: int = 8) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, most + 1, n_tasks).astype(np.float64)
    task = np.repeat(np.arange(n_tasks), counts.astype(int))
    worker = rng.integers(0, n_workers, task.size)
    value = rng.normal(50.0, 20.0, task.size)
    return task, worker, value, counts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_sums_equal_the_vectorised_ones_bit_for_bit(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    task, worker, value, counts = _sorted_answers(seed)
    n_tasks, n_workers = counts.size, 37
    rng = np.random.default_rng(100 + seed)
    weights = rng.random(n_workers)
    weights[:5] = 0.0  # some tasks may weigh nothing: they take the fallback
    fallback = rng.normal(size=n_tasks)
    centers, scales = rng.normal(50.0, 5.0, n_tasks), rng.random(n_tasks) + 0.1
    results = {}
    for threshold in (kernels.COMPILED_FROM, 0):
        monkeypatch.setattr(kernels, "COMPILED_FROM", threshold)
        results[threshold] = (
            segment_weighted_mean_of_workers(NUMPY, value, weights, worker, task, counts, fallback, 0.7, 3.0),
            segment_scaled_square_sums(NUMPY, value, centers, scales, task, counts, worker, n_workers),
            segment_weighted_mean_and_scaled_square_sums(
                NUMPY, value, weights, worker, task, counts, fallback, scales, n_workers, 0.7, 3.0
            ),
        )
    (mean_vectorised, sums_vectorised, fused_vectorised), (mean_compiled, sums_compiled, fused_compiled) = (
        results.values()
    )
    np.testing.assert_array_equal(mean_compiled, mean_vectorised)
    np.testing.assert_array_equal(sums_compiled, sums_vectorised)
    # Independent references: the per-answer formulas with np.add.at, and the weighted mean of the segments.
    expected = np.zeros(n_workers)
    np.add.at(expected, worker, (value - centers[task]) ** 2 * scales[task])
    np.testing.assert_allclose(sums_compiled, expected, rtol=1e-12)
    plain = segment_weighted_mean(NUMPY, value, weights[worker], task, n_tasks, fallback, 0.7, 3.0)
    np.testing.assert_array_equal(mean_compiled, plain)
    assert scaled_square(3.0, 1.0, 0.5) == 2.0
    # The one-pass kernel: each task's weighted mean, then the residuals around it, with the same bits.
    for got, want in zip(fused_compiled, fused_vectorised, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(fused_compiled[0], plain)
    around = np.zeros(n_workers)
    np.add.at(around, worker, (value - plain[task]) ** 2 * scales[task])
    np.testing.assert_allclose(fused_compiled[1], around, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_spreads_equal_the_vectorised_ones(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    task, _, value, counts = _sorted_answers(seed, most=40)
    value[task == 5] = 12.5  # a constant task: spread exactly 0, so the fallback
    spreads = []
    for threshold in (kernels.COMPILED_FROM, 0):
        monkeypatch.setattr(kernels, "COMPILED_FROM", threshold)
        spreads.append(segment_std(NUMPY, value, task, counts.size, counts, fallback=-1.0))
    np.testing.assert_array_equal(spreads[1], spreads[0])
    # Independent reference: NumPy's standard deviation of each task's answers.
    expected = np.array([np.std(value[task == m]) for m in range(counts.size)])
    expected[expected == 0.0] = -1.0  # the constant task and those of one answer
    assert expected[5] == -1.0
    np.testing.assert_allclose(spreads[1], expected, rtol=1e-12)


def test_compiled_standardisation_equals_the_vectorised_one(monkeypatch: pytest.MonkeyPatch) -> None:
    task, _, value, counts = _sorted_answers(4)
    rng = np.random.default_rng(5)
    center, scale = rng.normal(50.0, 5.0, counts.size), rng.uniform(0.5, 30.0, counts.size)
    results = []
    for threshold in (kernels.COMPILED_FROM, 0):
        monkeypatch.setattr(kernels, "COMPILED_FROM", threshold)
        results.append(segment_standardized(NUMPY, value, task, counts.size, counts, center, scale))
    for got, want in zip(results[1], results[0], strict=True):
        np.testing.assert_array_equal(got, want)
    # Independent reference: the formula per answer, and NumPy's mean of each task's results.
    working = (value - center[task]) / scale[task]
    np.testing.assert_allclose(results[1][0], working, rtol=1e-15)
    np.testing.assert_allclose(results[1][1], [working[task == m].mean() for m in range(counts.size)], rtol=1e-12)


METHODS = {
    "crh": CRH(),
    "gtm": GTM(),
    "lfc-n": LFCN(),
    "catd": CATD(),
    "mwa-gtm": MWA(base=GTM(), n_partitions=2),
}


@pytest.mark.parametrize("name", METHODS)
def test_fits_through_the_compiled_passes_are_the_same_bits(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = make_synthetic(n_tasks=600, n_workers=40, density=0.2, seed=4).answers
    fits: list[Aggregator] = []
    for threshold in (kernels.COMPILED_FROM, 0):
        monkeypatch.setattr(kernels, "COMPILED_FROM", threshold)
        fits.append(METHODS[name].clone().fit(answers))
    vectorised, compiled = fits
    np.testing.assert_array_equal(compiled.truths_.to_numpy(), vectorised.truths_.to_numpy())
    np.testing.assert_array_equal(compiled.weights_.to_numpy(), vectorised.weights_.to_numpy())
    assert compiled.objective_history_ == vectorised.objective_history_


def test_lanes_are_runs_of_whole_tasks_of_about_equal_size(monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, _, counts = _sorted_answers(5, n_tasks=1_000)
    starts = kernels.task_starts(counts)
    assert kernels.lanes(starts) == [(0, 1_000)]  # below LANES_FROM answers: one lane
    monkeypatch.setattr(kernels, "LANES_FROM", 0)
    ranges = kernels.lanes(starts)
    assert len(ranges) == kernels.LANES
    assert ranges[0][0] == 0 and ranges[-1][1] == 1_000
    assert all(end == first for (_, end), (first, _) in itertools.pairwise(ranges))  # they cover every task once
    sizes = [starts[end] - starts[first] for first, end in ranges]
    assert max(sizes) - min(sizes) <= 2 * counts.max()  # cut at the task boundary nearest each eighth


@pytest.mark.parametrize("name", ["crh", "gtm", "mwa-gtm"])
def test_lanes_give_the_same_bits_on_every_path_and_any_thread_count(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = make_synthetic(n_tasks=600, n_workers=40, density=0.2, seed=5).answers
    one_lane = METHODS[name].clone().fit(answers)
    monkeypatch.setattr(kernels, "LANES_FROM", 0)
    fits: list[Aggregator] = []
    for threshold, threads in ((kernels.COMPILED_FROM, "1"), (0, "1"), (0, "2"), (0, "3")):
        monkeypatch.setattr(kernels, "COMPILED_FROM", threshold)
        monkeypatch.setenv("TRUTHGUARD_THREADS", threads)
        fits.append(METHODS[name].clone().fit(answers))
    for fit in fits[1:]:
        np.testing.assert_array_equal(fit.truths_.to_numpy(), fits[0].truths_.to_numpy())
        np.testing.assert_array_equal(fit.weights_.to_numpy(), fits[0].weights_.to_numpy())
        assert fit.objective_history_ == fits[0].objective_history_
    # Adding the per-worker sums lane by lane changes only the rounding.
    np.testing.assert_allclose(fits[0].truths_.to_numpy(), one_lane.truths_.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fits[0].weights_.to_numpy(), one_lane.weights_.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_dominated_check_finds_the_same_tasks_compiled(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from truthguard import Answers
    from truthguard.core.diagnostics import dominated_tasks

    frame = make_synthetic(n_tasks=500, n_workers=30, answers_per_task=5, seed=seed).answers
    rng = np.random.default_rng(seed)
    slips = rng.choice(len(frame), 25, replace=False)
    frame.loc[slips, "value"] = frame.loc[slips, "value"] * 1e6  # typing slips: some estimates are dominated
    answers = Answers.from_frame(frame)
    with pytest.warns(DominatedEstimateWarning):
        estimates = CRH().fit(answers).truths_.to_numpy()
    found = []
    for threshold in (kernels.COMPILED_FROM, 0):
        monkeypatch.setattr(kernels, "COMPILED_FROM", threshold)
        found.append(dominated_tasks(answers, estimates))
    assert found[0].size > 0
    np.testing.assert_array_equal(found[1], found[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_medians_equal_the_sorted_ones(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from truthguard.core.segments import segment_median, segment_order

    task, _, value, counts = _sorted_answers(seed, most=40)  # a few values (sorted by insertion) and more
    value[::7] = np.round(value[::7])  # ties
    n_tasks = counts.size
    medians = []
    for threshold in (kernels.COMPILED_FROM, 0):
        monkeypatch.setattr(kernels, "COMPILED_FROM", threshold)
        medians.append(
            segment_median(NUMPY, value, task, n_tasks, counts, lambda: segment_order(NUMPY, value, task, n_tasks))
        )
    np.testing.assert_array_equal(medians[1], medians[0])
    # Independent reference: NumPy's median of each task's answers.
    starts = np.concatenate(([0], np.cumsum(counts).astype(int)))
    np.testing.assert_array_equal(medians[1], [np.median(value[a:b]) for a, b in itertools.pairwise(starts)])


@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_segment_order_equals_the_vectorised_one(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    task, _, value, counts = _sorted_answers(seed, most=40)
    value[::5] = np.round(value[::5] / 10.0)  # ties, kept in input order
    n_tasks = counts.size + 3  # segments without values at the end
    orders = []
    for threshold in (kernels.COMPILED_FROM, 0):
        monkeypatch.setattr(kernels, "COMPILED_FROM", threshold)
        orders.append(segment_order(NUMPY, value, task, n_tasks))
    np.testing.assert_array_equal(orders[1], orders[0])
    # Independent reference: NumPy's stable lexsort by (segment, value).
    np.testing.assert_array_equal(orders[1], np.lexsort((value, task)))
