"""Robust aggregators (Huber, mean around the median) against independent computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from truthguard.aggregators import Huber, MeanAroundMedian
from truthguard.aggregators.robust import MAD_TO_SD
from truthguard.datasets import make_synthetic


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_synthetic(n_tasks=25, n_workers=9, answers_per_task=6, seed=8).answers


def _huber_loss(mu: float, values: np.ndarray, scale: float, c: float) -> float:
    r = np.abs(values - mu) / scale
    return float(np.sum(np.where(r <= c, r * r / 2, c * r - c * c / 2)))


def test_huber_minimises_the_huber_loss(frame: pd.DataFrame) -> None:
    """Golden: per task, scipy's bounded minimiser of the Huber loss with the task's scaled MAD."""
    truths = Huber(n_steps=200).fit_predict(frame)
    for task, rows in frame.groupby("task"):
        values = rows["value"].to_numpy()
        scale = MAD_TO_SD * np.median(np.abs(values - np.median(values)))
        best = optimize.minimize_scalar(
            _huber_loss, bounds=(values.min(), values.max()), args=(values, scale, 1.345), method="bounded",
            options={"xatol": 1e-12},
        )  # fmt: skip
        assert truths[task] == pytest.approx(best.x, abs=1e-6 * np.ptp(values))


def test_mean_around_median_against_pandas(frame: pd.DataFrame) -> None:
    def nearest(values: pd.Series) -> float:
        distance = (values - values.median()).abs().sort_values(kind="stable")
        keep = len(values) - int(np.floor(0.3 * len(values)))
        return float(values[distance.index[:keep]].mean())

    expected = frame.groupby("task")["value"].apply(nearest)
    np.testing.assert_allclose(MeanAroundMedian(trim=0.3).fit_predict(frame).to_numpy(), expected.to_numpy())


@pytest.mark.parametrize("method", [Huber(), MeanAroundMedian(trim=0.3)], ids=["huber", "mean-around-median"])
def test_a_minority_of_outliers_moves_the_estimate_a_bounded_amount(method: Huber | MeanAroundMedian) -> None:
    """Two of nine answers per task pushed to 1e6: the estimate stays within the honest answers' range."""
    rng = np.random.default_rng(0)
    rows = [(t, f"w{w}", float(t) + rng.normal()) for t in range(10) for w in range(7)]
    rows += [(t, f"bad{w}", 1e6) for t in range(10) for w in range(2)]
    frame = pd.DataFrame(rows, columns=["task", "worker", "value"])
    honest = frame[~frame["worker"].str.startswith("bad")].groupby("task")["value"]
    estimate = method.fit_predict(frame)
    assert (estimate <= honest.max()).all() and (estimate >= honest.min()).all()


def test_huber_keeps_the_median_where_most_answers_agree() -> None:
    frame = pd.DataFrame({"task": [1] * 5, "worker": list("abcde"), "value": [2.0, 2.0, 2.0, 7.0, 9.0]})
    assert Huber().fit_predict(frame).iloc[0] == 2.0
