"""The compiled passes (core.kernels) give the same bits as the vectorised formulas they replace."""

from __future__ import annotations

import numpy as np
import pytest

import truthguard.core.kernels as kernels
from truthguard.aggregators import CATD, CRH, GTM, LFCN
from truthguard.aggregators.base import Aggregator
from truthguard.core.backend import NUMPY
from truthguard.core.segments import (
    scaled_square,
    segment_scaled_square_sums,
    segment_weighted_mean,
    segment_weighted_mean_of_workers,
)
from truthguard.datasets import make_synthetic
from truthguard.defenses import MWA


def _sorted_answers(seed: int, n_tasks: int = 400, n_workers: int = 37) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 9, n_tasks).astype(np.float64)
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
        )
    (mean_vectorised, sums_vectorised), (mean_compiled, sums_compiled) = results.values()
    np.testing.assert_array_equal(mean_compiled, mean_vectorised)
    np.testing.assert_array_equal(sums_compiled, sums_vectorised)
    # Independent references: the per-answer formulas with np.add.at, and the weighted mean of the segments.
    expected = np.zeros(n_workers)
    np.add.at(expected, worker, (value - centers[task]) ** 2 * scales[task])
    np.testing.assert_allclose(sums_compiled, expected, rtol=1e-12)
    plain = segment_weighted_mean(NUMPY, value, weights[worker], task, n_tasks, fallback, 0.7, 3.0)
    np.testing.assert_array_equal(mean_compiled, plain)
    assert scaled_square(3.0, 1.0, 0.5) == 2.0


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
