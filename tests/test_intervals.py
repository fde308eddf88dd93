"""Uncertainty intervals (issue #11): calibrated on synthetic data with known truth; GTM's posterior; API, CLI."""

from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from cli_helpers import assert_input_error, make_runner
from truthguard.aggregators import CRH, GTM, make_aggregator
from truthguard.datasets import make_synthetic
from truthguard.defenses import MIE, make_defense
from truthguard.errors import InputError, NotFittedError


@pytest.fixture(scope="module")
def crowd() -> object:
    # 2,000 tasks, 50 workers, about 10 answers per task, noise sd 1-20: the truth is known.
    return make_synthetic(n_tasks=2000, n_workers=50, density=0.2, seed=3)


@pytest.mark.parametrize("name", ["mean", "median", "crh", "gtm", "mwa"])
def test_ninety_percent_intervals_cover_85_to_95_percent_of_the_truths(name: str, crowd: object) -> None:
    model = make_defense("mwa", CRH()) if name == "mwa" else make_aggregator(name)
    model.fit(crowd.answers)  # type: ignore[attr-defined]
    interval = model.predict_interval(0.9, n_bootstrap=200, random_state=0)
    truth = crowd.truth.loc[interval.index]  # type: ignore[attr-defined]
    covered = ((truth >= interval["low"]) & (truth <= interval["high"])).mean()
    assert 0.85 <= covered <= 0.95, covered
    assert (interval["low"] <= model.truths_).all() and (model.truths_ <= interval["high"]).all()


def test_gtm_gives_its_posterior(crowd: object) -> None:
    model = GTM().fit(crowd.answers)  # type: ignore[attr-defined]
    interval = model.predict_interval(0.8)
    # Independent: GTM works on answers standardised per task (std, ddof 0); given the fitted precisions
    # w_i, a task's truth has posterior precision 1/sigma0^2 + sum of its workers' w_i there.
    frame = crowd.answers  # type: ignore[attr-defined]
    scale = frame.groupby("task")["value"].std(ddof=0)
    precision = frame["worker"].map(model.weights_).groupby(frame["task"]).sum() + 1.0 / model.sigma0**2
    half = NormalDist().inv_cdf(0.9) * scale / np.sqrt(precision)
    np.testing.assert_allclose(interval["high"] - model.truths_, half.loc[interval.index], rtol=1e-9)
    np.testing.assert_allclose(model.truths_ - interval["low"], half.loc[interval.index], rtol=1e-9)


def test_intervals_are_seeded_nested_and_exact_on_gold(crowd: object) -> None:
    model = CRH().fit(crowd.answers)  # type: ignore[attr-defined]
    first = model.predict_interval(0.9, n_bootstrap=50, random_state=7)
    pd.testing.assert_frame_equal(first, model.predict_interval(0.9, n_bootstrap=50, random_state=7))
    assert not first.equals(model.predict_interval(0.9, n_bootstrap=50, random_state=8))
    narrow = model.predict_interval(0.5, n_bootstrap=50, random_state=7)
    assert (narrow["low"] > first["low"]).all() and (narrow["high"] < first["high"]).all()
    gold = crowd.truth.iloc[:30]  # type: ignore[attr-defined]
    anchored = CRH().fit(crowd.answers, gold=gold).predict_interval(0.9, n_bootstrap=20, random_state=0)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(anchored.loc[gold.index, "low"], gold.to_numpy())
    np.testing.assert_array_equal(anchored.loc[gold.index, "high"], gold.to_numpy())


def test_defenses_that_only_refit_are_refitted_per_replicate() -> None:
    data = make_synthetic(n_tasks=60, n_workers=8, seed=1)
    interval = MIE(base=CRH(), n_malicious=1, search="top").fit(data.answers).predict_interval(0.9, n_bootstrap=5)
    assert interval.shape == (60, 2) and (interval["high"] > interval["low"]).all()


def test_bad_requests_get_clear_errors(crowd: object) -> None:
    with pytest.raises(NotFittedError):
        CRH().predict_interval()
    model = CRH().fit(crowd.answers)  # type: ignore[attr-defined]
    for level in (0, 1, 1.5, "0.9", True):
        with pytest.raises(InputError, match="level must be"):
            model.predict_interval(level)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="n_bootstrap"):
        model.predict_interval(0.9, n_bootstrap=1)
    with pytest.raises(InputError, match="random_state"):
        model.predict_interval(0.9, random_state=-1)


def test_cli_adds_low_and_high(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_runner(capsys)
    answers = tmp_path / "answers.csv"
    make_synthetic(n_tasks=100, n_workers=10, seed=2).answers.to_csv(answers, index=False)
    outputs = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for output in outputs:
        code, _, _ = run("aggregate", answers, "--intervals", "0.9", "--bootstrap", "30", "--seed", "4", "-o", output)
        assert code == 0
    assert outputs[0].read_bytes() == outputs[1].read_bytes()  # same seed, same bytes
    table = pd.read_csv(outputs[0])
    assert list(table.columns) == ["task", "value", "low", "high"]
    assert (table["low"] <= table["value"]).all() and (table["value"] <= table["high"]).all()
    assert "between 0 and 1" in assert_input_error(*run("aggregate", answers, "--intervals", "90"))
    assert "at least 2" in assert_input_error(*run("aggregate", answers, "--intervals", "0.9", "--bootstrap", "1"))
    line = assert_input_error(*run("aggregate", answers, "--intervals", "0.9", "--dask", "local"))
    assert "not supported on a Dask cluster" in line
    assert "needs --intervals LEVEL and --gold" in assert_input_error(*run("aggregate", answers, "--calibrate"))
    gold = tmp_path / "gold.csv"
    pd.DataFrame({"task": range(0, 100, 5), "truth": 0.0}).to_csv(gold, index=False)
    code, _, _ = run("aggregate", answers, "--gold", gold, "--intervals", "0.8", "--calibrate", "-o", outputs[0])
    assert code == 0 and list(pd.read_csv(outputs[0]).columns) == ["task", "value", "low", "high"]


def test_gold_tasks_calibrate_the_intervals_of_a_crowd_that_errs_together() -> None:
    # A crowd whose workers share each task's error (a common shift per task, as on Emotion and Weather):
    # the answers' noise alone gives intervals far too narrow; 10 % gold tasks scale them back to the level.
    data = make_synthetic(n_tasks=2000, n_workers=50, density=0.2, seed=7)
    shared = pd.Series(np.random.default_rng(0).normal(0.0, 8.0, 2000), index=data.truth.index)
    answers = data.answers.assign(value=data.answers["value"] + data.answers["task"].map(shared).to_numpy())
    gold = data.truth.sample(200, random_state=1)
    others = data.truth.drop(gold.index)
    model = CRH().fit(answers, gold=gold)

    def coverage(interval: pd.DataFrame) -> float:
        low, high = interval.loc[others.index, "low"], interval.loc[others.index, "high"]
        return float(((others >= low) & (others <= high)).mean())

    assert coverage(model.predict_interval(0.9, n_bootstrap=100, random_state=0)) < 0.6
    calibrated = model.predict_interval(0.9, n_bootstrap=100, random_state=0, calibrate=True)
    assert 0.85 <= coverage(calibrated) <= 0.95
    np.testing.assert_array_equal(calibrated.loc[gold.index, "low"], gold.to_numpy())
    with pytest.raises(InputError, match="needs gold tasks"):
        CRH().fit(answers).predict_interval(calibrate=True)
    with pytest.raises(InputError, match="at least 9 gold tasks"):
        CRH().fit(answers, gold=gold.iloc[:5]).predict_interval(calibrate=True, n_bootstrap=10)
