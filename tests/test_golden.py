"""Golden figures: every aggregator against computations made independently of its implementation.

Two kinds of oracle:

* Real data: MAE/RMSE on Emotion and Weather. The Mean/Median figures are the baselines measured with pandas
  in ``../shared/data/*/PROVENANCE.md``; the CRH, GTM and CATD figures are the independent NumPy
  re-implementation of the survey in ``../shared/research/anchors.md`` §3.4 (and the reconstruction's §15).
* Small random data: plain-Python reference implementations below, written from the papers' formulas with
  dictionaries and loops (no shared code with the library), compared iteration for iteration.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from truthguard import metrics
from truthguard.aggregators import CATD, CRH, GTM, LFCN, Mean, Median, TrimmedMean
from truthguard.aggregators.base import Aggregator

# --------------------------------------------------------------------------- real data


EMOTION = [
    # (aggregator, MAE, RMSE, tolerance, source)
    (Mean(), 12.022, 17.835, 5e-4, "emotion_zheng2017/PROVENANCE.md baseline table"),
    (Median(), 13.529, 21.264, 5e-4, "emotion_zheng2017/PROVENANCE.md baseline table"),
    (CRH(max_iter=10, tol=0.0), 11.927, 17.902, 5e-4, "anchors.md §3.4: CRH squared loss/std, -log(d/sum d), 10 it."),
    (CRH(), 11.927, 17.902, 5e-4, "anchors.md §3.4 (converged CRH; reconstruction §15 gives 11.93)"),
    (
        CRH(loss="absolute", normalization="max", max_iter=10, tol=0.0),
        13.907,
        21.960,
        5e-4,
        "anchors.md §3.4: CRH as in crowd_truth_infer (abs loss, max normalisation, weighted median)",
    ),
    (GTM(max_iter=100, tol=0.0), 11.819, 18.334, 5e-4, "anchors.md §3.4: GTM, median/std normalisation, 100 it."),
    (GTM(), 11.819, 18.334, 5e-4, "anchors.md §3.4 (converged GTM; reconstruction §15 gives 11.82)"),
    (CATD(quantile="upper"), 12.244, 19.051, 5e-4, "anchors.md §3.4: CATD per-task normalised, upper chi2 tail"),
]


@pytest.mark.parametrize(("aggregator", "mae", "rmse", "tol", "source"), EMOTION, ids=lambda v: repr(v)[:60])
def test_emotion_oracle(load_real, aggregator: Aggregator, mae: float, rmse: float, tol: float, source: str) -> None:
    data = load_real("emotion")
    scores = metrics.evaluate(aggregator.clone().fit_predict(data.answers), data.truth)
    assert scores.n == 700
    assert scores.mae == pytest.approx(mae, abs=tol), source
    assert scores.rmse == pytest.approx(rmse, abs=tol), source


WEATHER = [
    # (temperature, aggregator, MAE, RMSE or None, n): weather_crh2014/PROVENANCE.md baseline table
    ("both", Mean(), 4.784, 7.298, 1159),
    ("both", Median(), 4.988, 7.581, 1159),
    ("high", Mean(), 4.767, 8.428, 580),
    ("high", Median(), 4.904, 8.616, 580),
    ("low", Mean(), 4.801, 5.955, 579),
    ("low", Median(), 5.072, 6.378, 579),
]


@pytest.mark.parametrize(("temperature", "aggregator", "mae", "rmse", "n"), WEATHER, ids=lambda v: repr(v)[:30])
def test_weather_oracle(load_real, temperature: str, aggregator: Aggregator, mae: float, rmse: float, n: int) -> None:
    data = load_real("weather", temperature=temperature)
    scores = metrics.evaluate(aggregator.clone().fit_predict(data.answers), data.truth)
    assert scores.n == n
    assert scores.mae == pytest.approx(mae, abs=5e-4)
    assert scores.rmse == pytest.approx(rmse, abs=5e-4)


def test_truth_discovery_beats_mean_on_emotion(load_real) -> None:
    # The reconstruction (§15) reports CRH 11.93 and GTM 11.82 against the mean's 12.02 on Emotion.
    data = load_real("emotion")
    mean = metrics.mae(Mean().fit_predict(data.answers), data.truth)
    for method in (CRH(), GTM()):
        assert metrics.mae(method.fit_predict(data.answers), data.truth) < mean - 0.05


# --------------------------------------------------------------------------- plain-Python references

Table = list[tuple[int, int, float]]  # (task, worker, value)


def _groups(rows: Table) -> tuple[dict[int, list[tuple[int, float]]], dict[int, list[tuple[int, float]]]]:
    by_task: dict[int, list[tuple[int, float]]] = defaultdict(list)
    by_worker: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for task, worker, value in rows:
        by_task[task].append((worker, value))
        by_worker[worker].append((task, value))
    return by_task, by_worker


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


def _std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return sd if sd > 0 else 1.0


def reference_crh(rows: Table, n_iter: int) -> tuple[dict[int, float], dict[int, float]]:
    """Li et al. SIGMOD 2014, continuous data: d = (x - t)^2 / std_m, w_i = -log(D_i / sum D), weighted mean."""
    by_task, by_worker = _groups(rows)
    std = {m: _std([v for _, v in claims]) for m, claims in by_task.items()}
    truth = {m: _median([v for _, v in claims]) for m, claims in by_task.items()}
    weight: dict[int, float] = {}
    for _ in range(n_iter):
        distance = {i: sum((v - truth[m]) ** 2 / std[m] for m, v in claims) for i, claims in by_worker.items()}
        total = sum(distance.values())
        weight = {i: -math.log(d / total) for i, d in distance.items()}
        truth = {
            m: sum(weight[i] * v for i, v in claims) / sum(weight[i] for i, _ in claims)
            for m, claims in by_task.items()
        }
    return truth, weight


def reference_gtm(
    rows: Table, n_iter: int, alpha: float = 10.0, beta: float = 10.0, mu0: float = 0.0, sigma0: float = 1.0
) -> tuple[dict[int, float], dict[int, float]]:
    """Zhao & Han 2012: standardise per task by median and std, EM/MAP updates, map back."""
    by_task, by_worker = _groups(rows)
    center = {m: _median([v for _, v in claims]) for m, claims in by_task.items()}
    scale = {m: _std([v for _, v in claims]) for m, claims in by_task.items()}
    z = {(m, i): (v - center[m]) / scale[m] for m, claims in by_task.items() for i, v in claims}
    mu = {m: sum(z[(m, i)] for i, _ in claims) / len(claims) for m, claims in by_task.items()}
    precision: dict[int, float] = {}
    for _ in range(n_iter):
        for i, claims in by_worker.items():
            residual = sum((z[(m, i)] - mu[m]) ** 2 for m, _ in claims)
            precision[i] = (2 * (alpha + 1) + len(claims)) / (2 * beta + residual)
        mu = {
            m: (mu0 / sigma0**2 + sum(z[(m, i)] * precision[i] for i, _ in claims))
            / (1 / sigma0**2 + sum(precision[i] for i, _ in claims))
            for m, claims in by_task.items()
        }
    return {m: mu[m] * scale[m] + center[m] for m in by_task}, precision


def reference_inverse_variance(
    rows: Table, n_iter: int, count: Callable[[int], float], init: str
) -> tuple[dict[int, float], dict[int, float]]:
    """LFC-N (count = n) and CATD (count = chi-square quantile of n): w_i = count(n_i) / sum residual^2."""
    by_task, by_worker = _groups(rows)
    pick = _median if init == "median" else (lambda vs: sum(vs) / len(vs))
    truth = {m: pick([v for _, v in claims]) for m, claims in by_task.items()}
    weight: dict[int, float] = {}
    for _ in range(n_iter):
        weight = {
            i: count(len(claims)) / sum((v - truth[m]) ** 2 for m, v in claims) for i, claims in by_worker.items()
        }
        truth = {
            m: sum(weight[i] * v for i, v in claims) / sum(weight[i] for i, _ in claims)
            for m, claims in by_task.items()
        }
    return truth, weight


def _random_rows(seed: int, n_tasks: int = 25, n_workers: int = 7, density: float = 0.6) -> Table:
    rng = np.random.default_rng(seed)
    noise = rng.uniform(1, 15, n_workers)
    rows = []
    for m in range(n_tasks):
        truth = rng.uniform(-50, 50)
        workers = [i for i in range(n_workers) if rng.random() < density] or [int(rng.integers(n_workers))]
        # two answers at least per task with spread, so that no worker's residual is exactly zero
        if len(workers) == 1:
            workers.append((workers[0] + 1) % n_workers)
        rows += [(m, i, float(truth + noise[i] * rng.standard_normal())) for i in workers]
    return rows


def _frame(rows: Table) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "worker", "value"])


def _assert_matches(model: Aggregator, truth: dict[int, float], weight: dict[int, float]) -> None:
    # Values are of order 50: 1e-6 absolute is far below any formula difference, above what the guards (1e-10
    # relative changes of distances and variances) can shift.
    np.testing.assert_allclose(model.truths_.to_numpy(), [truth[m] for m in model.truths_.index], rtol=1e-9, atol=1e-6)
    # The guards change a weight by about (guard / distance): 1e-10 of the data's scale over a worker's own
    # residual, which is 1e-9 typically and up to 1e-5 for a worker the truths are converging onto.
    np.testing.assert_allclose(model.weights_.to_numpy(), [weight[i] for i in model.weights_.index], rtol=1e-5)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_iter", [1, 3, 12])
def test_crh_matches_reference(seed: int, n_iter: int) -> None:
    rows = _random_rows(seed)
    model = CRH(max_iter=n_iter, tol=0.0).fit(_frame(rows))
    # The library raises each D_i by 1e-10 of the mean distance (a zero-distance guard): weights agree to 1e-6.
    _assert_matches(model, *reference_crh(rows, n_iter))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("n_iter", [1, 3, 12])
def test_gtm_matches_reference(seed: int, n_iter: int) -> None:
    rows = _random_rows(seed)
    _assert_matches(GTM(max_iter=n_iter, tol=0.0).fit(_frame(rows)), *reference_gtm(rows, n_iter))


@pytest.mark.parametrize("seed", range(5))
def test_gtm_priors_are_used(seed: int) -> None:
    rows = _random_rows(seed)
    model = GTM(alpha=2.0, beta=0.5, mu0=0.3, sigma0=2.0, max_iter=6, tol=0.0).fit(_frame(rows))
    _assert_matches(model, *reference_gtm(rows, 6, alpha=2.0, beta=0.5, mu0=0.3, sigma0=2.0))


@pytest.mark.parametrize("seed", range(5))
def test_lfcn_matches_reference(seed: int) -> None:
    # Few iterations: without a prior these methods drift towards one worker whose residual tends to 0, where
    # the library's variance floor (a guard against 1/0) and the unguarded reference part ways by design.
    rows = _random_rows(seed)
    model = LFCN(max_iter=3, tol=0.0).fit(_frame(rows))
    _assert_matches(model, *reference_inverse_variance(rows, 3, count=float, init="mean"))


@pytest.mark.parametrize("quantile", ["lower", "upper"])
@pytest.mark.parametrize("seed", range(5))
def test_catd_matches_reference(seed: int, quantile: str) -> None:
    rows = _random_rows(seed)
    model = CATD(quantile=quantile, max_iter=3, tol=0.0).fit(_frame(rows))  # 3: see test_lfcn_matches_reference

    def chi2(n: int) -> float:
        return float(stats.chi2.ppf(0.025, n) if quantile == "lower" else stats.chi2.isf(0.025, n))

    _assert_matches(model, *reference_inverse_variance(rows, 3, count=chi2, init="median"))


def test_catd_discounts_workers_with_few_answers() -> None:
    # Two workers with the same residual per answer: with the lower chi-square quantile the one with fewer
    # answers must get a smaller weight per answer (CATD's stated purpose); with the upper one, a larger one.
    ratio_lower = stats.chi2.ppf(0.025, 3) / 3 / (stats.chi2.ppf(0.025, 300) / 300)
    ratio_upper = stats.chi2.isf(0.025, 3) / 3 / (stats.chi2.isf(0.025, 300) / 300)
    assert ratio_lower < 0.3 < 1 < ratio_upper


def test_one_shot_aggregators_match_pandas() -> None:
    frame = _frame(_random_rows(11))
    grouped = frame.groupby("task")["value"]
    pd.testing.assert_series_equal(Mean().fit_predict(frame), grouped.mean(), check_names=False, rtol=1e-12)
    pd.testing.assert_series_equal(Median().fit_predict(frame), grouped.median(), check_names=False, rtol=1e-12)
    expected = grouped.apply(lambda v: stats.trim_mean(v, 0.2))
    pd.testing.assert_series_equal(TrimmedMean(trim=0.2).fit_predict(frame), expected, check_names=False, rtol=1e-12)


def test_metrics_accept_arrays_paired_by_position() -> None:
    """``metrics.evaluate(ndarray, ndarray)`` raised AttributeError."""
    from truthguard import InputError, metrics

    scores = metrics.evaluate(np.array([1.0, 4.0]), np.array([2.0, 2.0]))
    assert (scores.mae, scores.rmse, scores.n) == (1.5, np.sqrt(2.5), 2)  # |−1|, |2|: mean 1.5; sqrt((1+4)/2)
    assert metrics.mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    with pytest.raises(InputError, match=r"the estimates have 2 values and the ground truth 3; give one per task"):
        metrics.evaluate(np.array([1.0, 4.0]), np.array([2.0, 2.0, 1.0]))
    with pytest.raises(InputError, match=r"give the estimates and the reference both as Series indexed by task"):
        metrics.evaluate(np.array([1.0]), pd.Series([1.0]))
    with pytest.raises(InputError, match=r"estimates must be numbers; got 'x' for task 0"):
        metrics.evaluate(["x"], [1.0])
