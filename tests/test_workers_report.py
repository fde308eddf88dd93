"""The worker report (issue #11): one row per worker, what a platform acts on; API and CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import assert_input_error, make_runner
from test_gold import _small
from truthguard.aggregators import CRH, Median
from truthguard.attacks import MaximumAttack, ThreatModel
from truthguard.datasets import make_synthetic
from truthguard.defenses import MIE
from truthguard.errors import NotFittedError

ROWS = list(_small().to_frame().itertuples(index=False, name=None))  # test_gold's five workers, four tasks


def test_the_report_has_a_row_per_worker_flagged_first() -> None:
    frame = pd.DataFrame(ROWS, columns=["task", "worker", "value"])
    gold = pd.Series({"a": 10.0, "b": 20.0})
    model = CRH().fit(frame, gold=gold, gold_screen=True)
    report = model.workers_report()
    assert list(report.columns) == [
        "worker", "weight", "weight_share", "answers", "mean_abs_deviation", "gold_answers", "gold_error",
        "flagged", "flagged_by",
    ]  # fmt: skip
    assert report["worker"].iloc[0] == "w5" and report["flagged"].tolist() == [True, False, False, False, False]
    assert report["flagged_by"].iloc[0] == "gold screen"
    by_worker = report.set_index("worker")
    # Independent: each worker's answers against the published estimates, by pandas.
    estimate = frame["task"].map(model.truths_)
    expected = (frame["value"] - estimate).abs().groupby(frame["worker"]).mean()
    np.testing.assert_allclose(by_worker["mean_abs_deviation"].loc[expected.index], expected.to_numpy(), rtol=1e-12)
    assert by_worker["answers"].to_dict() == frame.groupby("worker").size().to_dict()
    np.testing.assert_allclose(by_worker["weight"].loc[model.weights_.index], model.weights_.to_numpy())
    assert by_worker["weight_share"].sum() == pytest.approx(1.0)
    assert by_worker.loc["w5", "weight"] == 0.0
    np.testing.assert_allclose(by_worker.loc[["w1", "w2", "w3", "w4", "w5"], "gold_error"], [0.5, 1.5, 0.5, 2.0, 45.0])
    rest = report.iloc[1:]["mean_abs_deviation"].to_numpy()
    assert (np.diff(rest) <= 0).all()  # then by deviation, largest first


def test_defenses_flag_the_workers_they_remove() -> None:
    data = make_synthetic(n_tasks=100, n_workers=10, seed=0)
    poisoned = MaximumAttack(ThreatModel(n_malicious=2)).poison(data.answers, data.bounds, CRH(), 0)
    report = MIE(base=CRH(), n_malicious=2, search="top").fit(poisoned.answers).workers_report()
    flagged = report[report["flagged"]]
    assert sorted(flagged["worker"]) == sorted(poisoned.malicious_workers)
    assert set(flagged["flagged_by"]) == {"removed by mie"}
    assert "gold_error" not in report.columns
    plain = Median().fit(poisoned.answers).workers_report()
    assert not plain["flagged"].any() and len(plain) == 12
    with pytest.raises(NotFittedError):
        CRH().workers_report()


def test_cli_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_runner(capsys)
    answers = tmp_path / "answers.csv"
    pd.DataFrame(ROWS, columns=["task", "worker", "value"]).to_csv(answers, index=False)
    gold = tmp_path / "gold.csv"
    gold.write_text("task,truth\na,10\nb,20\n")
    out = tmp_path / "workers.parquet"
    code, stdout, _ = run("aggregate", answers, "--gold", gold, "--gold-screen", "--workers-out", out)
    assert code == 0 and f"report written to {out}" in stdout
    report = pd.read_parquet(out)
    assert report["worker"].iloc[0] == "w5" and bool(report["flagged"].iloc[0])
    code, stdout, stderr = run("aggregate", answers, "--workers-out", "-")
    assert code == 0 and stdout.splitlines()[0].startswith("worker,weight,weight_share")
    assert "method      crh" in stderr  # the summary moves to standard error
    assert "share standard output" in assert_input_error(*run("aggregate", answers, "--workers-out", "-", "-o", "-"))
    line = assert_input_error(*run("aggregate", answers, "--workers-out", out, "--dask", "local"))
    assert "not supported on a Dask cluster" in line
