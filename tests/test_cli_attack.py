"""``truthguard attack`` in-process through ``main(argv)``: summaries, JSON, poisoned files and input errors."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cli_helpers import Run, assert_input_error, make_runner
from truthguard import Bounds, datasets
from truthguard.aggregators import CRH, TrimmedMean
from truthguard.aggregators.base import Aggregator
from truthguard.attacks import Attack, MaximumAttack, RandomAttack, ThreatModel
from truthguard.datasets import make_synthetic
from truthguard.experiments import run_attack

JSON_KEYS = {
    "attack",
    "aggregator",
    "threat",
    "n_honest_workers",
    "n_malicious",
    "n_answers",
    "malicious_answer_share",
    "task_share_mean",
    "task_share_max",
    "malicious_weight_share",
    "before",
    "after",
    "relative_increase",
    "deviation",
    "objective",
    "seconds",
    "input",
    "seed",
    "output",
    "attack_params",
}
SMALL = ["--dataset", "synthetic", "--dataset-option", "n_tasks=40", "--dataset-option", "n_workers=10"]
POISONED_COLUMNS = ["task", "worker", "value", "malicious"]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(capsys)


def string_ids(data: datasets.Dataset) -> datasets.Dataset:
    answers = data.answers.assign(task="q" + data.answers["task"].astype(str))
    truth = pd.Series(data.truth.to_numpy(), index=pd.Index("q" + data.truth.index.astype(str), name="task"))
    return datasets.Dataset("sample", answers, truth.rename("truth"), data.bounds, "sample")


@pytest.fixture(scope="module")
def sample() -> datasets.Dataset:
    """30 tasks (ids q0..q29), 8 workers answering every task, bounds [-100, 100]."""
    return string_ids(make_synthetic(n_tasks=30, n_workers=8, seed=7))


@pytest.fixture(scope="module")
def sparse() -> datasets.Dataset:
    """30 tasks, 8 workers, 3 answers per task (90 answers: an average worker answers 11.25 tasks)."""
    return string_ids(make_synthetic(n_tasks=30, n_workers=8, answers_per_task=3, seed=5))


TARGETS = pd.Series({"q0": 95.0, "q1": -95.0, "q2": 95.0}, name="target")


@pytest.fixture
def files(tmp_path: Path, sample: datasets.Dataset, sparse: datasets.Dataset) -> dict[str, Path]:
    """The samples as CSV, with truth, per-task bounds and targets."""
    paths = {
        "answers": tmp_path / "answers.csv",
        "sparse": tmp_path / "sparse.csv",
        "truth": tmp_path / "truth.csv",
        "sparse_truth": tmp_path / "sparse_truth.csv",
        "bounds": tmp_path / "bounds.csv",
        "targets": tmp_path / "targets.csv",
    }
    sample.answers.to_csv(paths["answers"], index=False)
    sparse.answers.to_csv(paths["sparse"], index=False)
    sample.truth.reset_index().to_csv(paths["truth"], index=False)
    sparse.truth.reset_index().to_csv(paths["sparse_truth"], index=False)
    bounds_table(sample).to_csv(paths["bounds"], index=False)
    TARGETS.rename_axis("task").reset_index().to_csv(paths["targets"], index=False)
    return paths


def bounds_table(data: datasets.Dataset) -> pd.DataFrame:
    """Per-task bounds, different for every task and wider than [-100, 100]."""
    tasks = sorted(data.answers["task"].unique(), key=lambda t: int(t[1:]))
    number = np.array([int(t[1:]) for t in tasks])
    return pd.DataFrame({"task": tasks, "low": -100.0 - 3.0 * number, "high": 100.0 + 2.0 * number})


def read_poisoned(path: Path | str | io.StringIO) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"task": str, "worker": str})


def malicious_rows(frame: pd.DataFrame) -> pd.DataFrame:
    assert frame["malicious"].dtype == bool
    return frame[frame["malicious"]]


def assert_same_as_api(summary: dict[str, Any], report_dict: dict[str, Any]) -> None:
    """The CLI's figures are the API's, exactly (timings aside)."""
    for key, value in report_dict.items():
        if key != "seconds":
            assert summary[key] == value, key


def api_report(
    data: datasets.Dataset | tuple[pd.DataFrame, Bounds, pd.Series | None],
    aggregator: Aggregator,
    attack: Attack,
    seed: int = 0,
) -> dict[str, Any]:
    if isinstance(data, datasets.Dataset):
        answers, bounds, truth = data.answers, data.bounds, data.truth
    else:
        answers, bounds, truth = data
    assert bounds is not None
    report, _ = run_attack(answers, bounds, aggregator, attack, truth, random_state=seed)
    return json.loads(json.dumps(report.to_dict()))


# ------------------------------------------------------------------ built-in dataset


def test_attack_dataset_summary(run: Run) -> None:
    code, out, err = run("attack", *SMALL, "--attack", "maximum", "--target", "crh", "--fraction", "0.2")
    assert code == 0, err
    assert err == ""
    assert "attack      maximum against crh on dataset synthetic (seed 0)" in out
    assert "3 malicious + 10 honest workers, full knowledge, goal deviation" in out
    assert "MAE" in out and "RMSE" in out
    assert "over 40 tasks with truth" in out
    assert "not saved" in out


def test_attack_dataset_json_matches_api(run: Run) -> None:
    code, out, err = run("attack", *SMALL, "--attack", "maximum", "--target", "crh", "--fraction", "0.2", "--json")
    assert code == 0, err
    summary = json.loads(out)  # the whole of stdout is one JSON object
    assert isinstance(summary, dict)
    assert set(summary) >= JSON_KEYS
    for side in ("before", "after"):
        assert set(summary[side]) >= {"mae", "rmse"}
    assert summary["n_malicious"] == 3
    assert summary["seed"] == 0 and summary["output"] is None and summary["input"] == "dataset synthetic"
    assert summary["attack_params"] == {"mode": "max"}
    assert summary["after"]["mae"] > summary["before"]["mae"]
    data = datasets.load("synthetic", n_tasks=40, n_workers=10)
    expected = api_report(data, CRH(), MaximumAttack(ThreatModel(fraction=0.2)), seed=0)
    assert_same_as_api(summary, expected)
    assert summary["malicious_answer_share"] == pytest.approx(3 / 13)


def test_attack_dataset_seed_reaches_the_dataset(run: Run) -> None:
    code, out, err = run("attack", *SMALL, "--attack", "random", "--n-malicious", "2", "--seed", "5", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["seed"] == 5
    data = datasets.load("synthetic", n_tasks=40, n_workers=10, seed=5)
    assert_same_as_api(summary, api_report(data, CRH(), RandomAttack(ThreatModel(n_malicious=2)), seed=5))


# ------------------------------------------------------------------ answers files


def test_output_file_and_aggregate_round_trip(run: Run, files: dict[str, Path], tmp_path: Path) -> None:
    poisoned = tmp_path / "poisoned.csv"
    code, out, err = run("attack", files["answers"], "--bounds", "-100", "100", "--truth", files["truth"],
                         "--attack", "maximum", "--fraction", "0.2", "-o", poisoned, "--json")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["output"] == str(poisoned)
    assert summary["input"] == str(files["answers"])
    frame = read_poisoned(poisoned)
    assert list(frame.columns) == POISONED_COLUMNS
    bad = malicious_rows(frame)
    assert summary["n_malicious"] == 2  # 0.2 * 8 / 0.8 = 2
    assert set(bad["worker"]) == {"8", "9"}  # integer ids continue the honest ones (0..7)
    assert len(frame) == summary["n_answers"] == 10 * 30
    honest = frame[~frame["malicious"]][["task", "worker", "value"]].sort_values(["task", "worker"])
    original = read_poisoned(files["answers"]).sort_values(["task", "worker"])
    np.testing.assert_array_equal(honest.to_numpy(), original.to_numpy())
    assert (bad["value"] == 100.0).all()

    code, out, err = run("aggregate", poisoned, "--method", "crh", "--truth", files["truth"], "--json")
    assert code == 0, err
    aggregated = json.loads(out)
    assert aggregated["n_workers"] == 10 and aggregated["n_answers"] == 300
    assert aggregated["mae"] == pytest.approx(summary["after"]["mae"], rel=1e-12)
    assert aggregated["rmse"] == pytest.approx(summary["after"]["rmse"], rel=1e-12)


def test_text_summary_names_the_output(run: Run, files: dict[str, Path], tmp_path: Path) -> None:
    poisoned = tmp_path / "poisoned.csv"
    code, out, err = run("attack", files["answers"], "--bounds", "-100", "100", "--attack", "random", "-o", poisoned)
    assert code == 0, err
    assert f"poisoned    written to {poisoned}" in out
    assert "error       MAE" not in out  # no truth, no errors to report
    assert poisoned.is_file()


def test_bounds_file(run: Run, files: dict[str, Path], sample: datasets.Dataset, tmp_path: Path) -> None:
    poisoned = tmp_path / "poisoned.csv"
    code, out, err = run("attack", files["answers"], "--bounds-file", files["bounds"], "--attack", "maximum",
                         "--n-malicious", "2", "-o", poisoned, "--json")  # fmt: skip
    assert code == 0, err
    bad = malicious_rows(read_poisoned(poisoned))
    table = bounds_table(sample).set_index("task")
    assert len(bad) == 2 * 30
    np.testing.assert_array_equal(bad["value"].to_numpy(), table.loc[bad["task"], "high"].to_numpy())
    summary = json.loads(out)
    expected = api_report(
        (sample.answers, Bounds.from_frame(bounds_table(sample)), None),
        CRH(),
        MaximumAttack(ThreatModel(n_malicious=2)),
    )
    assert_same_as_api(summary, expected)


def test_n_malicious(run: Run, files: dict[str, Path], tmp_path: Path) -> None:
    poisoned = tmp_path / "poisoned.csv"
    code, out, err = run("attack", files["answers"], "--bounds", "-100", "100", "--attack", "random",
                         "--n-malicious", "5", "-o", poisoned, "--json")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["n_malicious"] == 5
    assert summary["threat"]["n_malicious"] == 5 and summary["threat"]["fraction"] is None
    bad = malicious_rows(read_poisoned(poisoned))
    assert bad["worker"].nunique() == 5
    assert (bad.groupby("task").size() == 5).all()
    assert summary["task_share_max"] == pytest.approx(5 / 13)


@pytest.mark.parametrize(("option", "per_worker"), [("3", 3), ("mean", 11)])  # sparse: 90 answers / 8 workers
def test_tasks_per_worker(run: Run, files: dict[str, Path], tmp_path: Path, option: str, per_worker: int) -> None:
    poisoned = tmp_path / "poisoned.csv"
    code, out, err = run("attack", files["sparse"], "--bounds", "-100", "100", "--attack", "maximum",
                         "--n-malicious", "3", "--tasks-per-worker", option, "-o", poisoned, "--json")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["threat"]["tasks_per_worker"] == (int(option) if option.isdigit() else option)
    bad = malicious_rows(read_poisoned(poisoned))
    per = bad.groupby("worker")["task"].agg(["size", "nunique"])
    assert len(per) == 3
    assert (per["size"] == per_worker).all() and (per["nunique"] == per_worker).all()
    assert summary["n_answers"] == 90 + 3 * per_worker
    assert summary["malicious_answer_share"] == pytest.approx(3 * per_worker / (90 + 3 * per_worker))


def test_partial_knowledge_and_attack_param(
    run: Run, files: dict[str, Path], sparse: datasets.Dataset, tmp_path: Path
) -> None:
    poisoned = tmp_path / "poisoned.csv"
    code, out, err = run("attack", files["sparse"], "--bounds", "-100", "100", "--truth", files["sparse_truth"],
                         "--attack", "maximum", "--attack-param", "mode=far", "--n-malicious", "2",
                         "--knowledge", "partial", "--known-fraction", "0.5", "--seed", "3", "-o", poisoned,
                         "--json")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["threat"]["knowledge"] == "partial" and summary["threat"]["known_fraction"] == 0.5
    assert summary["attack_params"] == {"mode": "far"}
    threat = ThreatModel(n_malicious=2, knowledge="partial", known_fraction=0.5)
    expected = api_report(sparse, CRH(), MaximumAttack(threat, mode="far"), seed=3)
    assert_same_as_api(summary, expected)
    bad = malicious_rows(read_poisoned(poisoned))
    assert len(bad) == 2 * 30
    assert set(bad["value"]) <= {-100.0, 100.0}


def test_targeted_goal(run: Run, files: dict[str, Path], sample: datasets.Dataset, tmp_path: Path) -> None:
    poisoned = tmp_path / "poisoned.csv"
    code, out, err = run("attack", files["answers"], "--bounds", "-100", "100", "--attack", "maximum",
                         "--attack-param", "mode=far", "--fraction", "0.2", "--goal", "targeted",
                         "--targets", files["targets"], "-o", poisoned, "--json")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["threat"]["goal"] == "targeted" and summary["threat"]["n_targets"] == 3
    threat = ThreatModel(fraction=0.2, goal="targeted", targets=TARGETS)
    expected = api_report((sample.answers, sample.bounds, None), CRH(), MaximumAttack(threat, mode="far"))
    assert_same_as_api(summary, expected)
    bad = malicious_rows(read_poisoned(poisoned))
    aimed = bad[bad["task"].isin(TARGETS.index)]
    assert len(aimed) == 2 * 3
    np.testing.assert_array_equal(aimed["value"].to_numpy(), np.sign(TARGETS.loc[aimed["task"]].to_numpy()) * 100)


def test_optimized_attack_params(run: Run, files: dict[str, Path], tmp_path: Path) -> None:
    poisoned = tmp_path / "poisoned.csv"
    code, out, err = run("attack", files["answers"], "--bounds", "-100", "100", "--attack", "optimized",
                         "--attack-param", "steps=3", "--attack-param", "restarts=1",
                         "--attack-param", "line_search_points=2", "--n-malicious", "2", "-o", poisoned,
                         "--json")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["attack"] == "optimized"
    assert summary["attack_params"]["steps"] == 3
    assert summary["attack_params"]["restarts"] == 1
    assert summary["attack_params"]["line_search_points"] == 2
    assert summary["attack_params"]["learning_rate"] == 0.01  # the default, reported too
    frame = read_poisoned(poisoned)
    assert list(frame.columns) == POISONED_COLUMNS
    bad = malicious_rows(frame)
    assert len(bad) == 2 * 30
    assert bad["value"].between(-100, 100).all()
    assert summary["deviation"] > 0 and summary["objective"] > 0


@pytest.mark.parametrize(
    ("argv", "aggregator"),
    [
        (["--target", "trimmed-mean", "-p", "trim=0.25"], TrimmedMean(trim=0.25)),
        (["--target", "crh", "-p", "max_iter=3", "--param", "tol=0.001"], CRH(max_iter=3, tol=0.001)),
    ],
    ids=["trimmed-mean", "crh"],
)
def test_target_params(
    run: Run, files: dict[str, Path], sample: datasets.Dataset, argv: list[str], aggregator: Aggregator
) -> None:
    code, out, err = run("attack", files["answers"], "--bounds", "-100", "100", "--truth", files["truth"],
                         "--attack", "random", "--n-malicious", "3", *argv, "--json")  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["aggregator"] == aggregator.name
    expected = api_report(sample, aggregator, RandomAttack(ThreatModel(n_malicious=3)))
    assert_same_as_api(summary, expected)
    default = api_report(sample, type(aggregator)(), RandomAttack(ThreatModel(n_malicious=3)))
    assert summary["after"] != default["after"]  # the parameter mattered


def test_seed(run: Run, files: dict[str, Path], tmp_path: Path) -> None:
    def poisoned(seed: str | None, name: str) -> bytes:
        path = tmp_path / name
        seed_args = [] if seed is None else ["--seed", seed]
        code, _, err = run("attack", files["answers"], "--bounds", "-100", "100", "--attack", "random",
                           "--n-malicious", "2", *seed_args, "-o", path)  # fmt: skip
        assert code == 0, err
        return path.read_bytes()

    first, again, other = poisoned("3", "a.csv"), poisoned("3", "b.csv"), poisoned("4", "c.csv")
    assert first == again
    assert first != other
    assert poisoned(None, "d.csv") == poisoned("0", "e.csv")  # no --seed means seed 0
    a, c = read_poisoned(io.StringIO(first.decode())), read_poisoned(io.StringIO(other.decode()))
    pd.testing.assert_frame_equal(a[~a["malicious"]], c[~c["malicious"]])  # only the malicious values differ
    assert not np.array_equal(malicious_rows(a)["value"], malicious_rows(c)["value"])


@pytest.mark.parametrize("source", ["dataset", "string-workers"])
def test_parquet_output(run: Run, files: dict[str, Path], tmp_path: Path, source: str) -> None:
    """``-o POISONED.parquet`` works whatever the honest worker ids are (the built-in datasets' are integers,
    the malicious workers' are strings), and ``aggregate`` reads the file back."""
    if source == "dataset":
        inputs: list[str | Path] = [*SMALL]
    else:
        frame = pd.read_csv(files["answers"]).assign(worker=lambda f: "w" + f["worker"].astype(str))
        frame.to_csv(tmp_path / "named.csv", index=False)
        inputs = [tmp_path / "named.csv", "--bounds", "-100", "100"]
    poisoned = tmp_path / "poisoned.parquet"
    code, out, err = run("attack", *inputs, "--attack", "maximum", "--n-malicious", "2", "-o", poisoned, "--json")
    assert code == 0, err
    assert json.loads(out)["output"] == str(poisoned)
    table = pd.read_parquet(poisoned)
    assert list(table.columns) == POISONED_COLUMNS
    assert int(table["malicious"].sum()) == 2 * table["task"].nunique()
    expected = {"malicious-1", "malicious-2"} if source == "string-workers" else {"10", "11"}  # text ids or ints
    assert set(table.loc[table["malicious"], "worker"].astype(str)) == expected
    code, _, err = run("aggregate", poisoned, "--method", "crh")
    assert code == 0, err


@pytest.mark.parametrize("json_flag", [True, False], ids=["json", "text"])
def test_output_to_stdout(run: Run, files: dict[str, Path], json_flag: bool) -> None:
    extra = ["--json"] if json_flag else []
    code, out, err = run("attack", files["answers"], "--bounds", "-100", "100", "--attack", "maximum",
                         "--n-malicious", "2", "-o", "-", *extra)  # fmt: skip
    assert code == 0, err
    frame = read_poisoned(io.StringIO(out))  # stdout is the CSV alone
    assert list(frame.columns) == POISONED_COLUMNS
    assert len(frame) == 10 * 30
    assert malicious_rows(frame)["worker"].nunique() == 2
    if json_flag:
        summary = json.loads(err)
        assert summary["output"] == "-" and summary["n_malicious"] == 2
    else:
        assert "attack      maximum against crh" in err
        assert "written to" not in err


def test_help(run: Run) -> None:
    code, out, err = run("attack", "--help")
    assert code == 0, err
    assert "examples" in out
    assert "--attack-param" in out and "--tasks-per-worker" in out


# ------------------------------------------------------------------ errors

BAD_FILES = {
    "targets_unknown.csv": "task,target\nq0,5\nzz,1\n",
    "targets_cols.csv": "task,value\nq0,5\n",
    "targets_text.csv": "task,target\nq0,high\n",
    "bounds_partial.csv": "task,low,high\nq0,-100,100\n",
    "narrow.csv": "task,worker,value\nq0,a,0.5\nq0,b,3\n",
}
A = ["{d}/answers.csv", "--bounds", "-100", "100"]
ERROR_CASES: list[tuple[list[str], str]] = [
    (["{d}/answers.csv"], r"attacks need each task's legal range: give --bounds LOW HIGH or --bounds-file FILE"),
    ([*A, "--attack", "nope"], r"unknown attack 'nope'; choose one of optimized, blackbox, random, maximum"),
    ([*A, "--target", "nope"], r"unknown method 'nope'; choose one of mean"),
    ([*A, "--attack", "maximum", "--attack-param", "colour=red"], r"MaximumAttack has no parameter 'colour'"),
    ([*A, "--attack", "random", "--attack-param", "steps=3"], r"RandomAttack has no parameter 'steps'"),
    ([*A, "--attack", "maximum", "--attack-param", "mode=min"], r"unknown MaximumAttack mode 'min'"),
    ([*A, "--attack", "optimized", "--attack-param", "steps=-1"], r"steps must be an integer >= 0; got -1"),
    ([*A, "--attack", "optimized", "--attack-param", "learning_rate=0"], r"learning_rate must be a number in \(0, 1\]"),
    ([*A, "--attack-param", "steps"], r"--attack-param takes KEY=VALUE; got 'steps'"),
    ([*A, "-p", "foo=1"], r"CRH has no parameter 'foo'"),
    ([*A, "--fraction", "1.5"], r"fraction must be a number in \[0, 0\.99\]"),
    ([*A, "--fraction", "-0.1"], r"fraction must be a number in \[0, 0\.99\]"),
    ([*A, "--n-malicious", "-1"], r"n_malicious must be an integer >= 0 or None; got -1"),
    ([*A, "--tasks-per-worker", "abc"], r"--tasks-per-worker takes a positive integer or 'mean'; got 'abc'"),
    ([*A, "--tasks-per-worker", "2.5"], r"--tasks-per-worker takes a positive integer or 'mean'"),
    ([*A, "--tasks-per-worker", "0"], r"tasks_per_worker must be a positive integer"),
    ([*A, "--tasks-per-worker", "31"], r"tasks_per_worker=31 exceeds the 30 tasks"),
    ([*A, "--knowledge", "partial", "--known-fraction", "0"], r"known_fraction must be a number in \(0, 1\]; got 0"),
    ([*A, "--known-fraction", "1.5"], r"known_fraction must be a number in \(0, 1\]"),
    ([*A, "--goal", "targeted"], r"the targeted goal needs targets"),
    ([*A, "--targets", "{d}/targets.csv"], r"targets are only used with goal='targeted'"),
    ([*A, "--goal", "targeted", "--targets", "{d}/targets_unknown.csv"], r"names 1 task\(s\) that have no answers"),
    ([*A, "--goal", "targeted", "--targets", "{d}/targets_cols.csv"], r"is missing column\(s\) target"),
    ([*A, "--goal", "targeted", "--targets", "{d}/targets_text.csv"], r"non-numeric or infinite target at row 1"),
    ([*A, "--goal", "targeted", "--targets", "{d}/nope.csv"], r"targets file .* does not exist"),
    (["{d}/answers.csv", "--bounds", "-50", "50"], r"answer\(s\) lie outside their bounds"),
    (["{d}/narrow.csv", "--bounds", "0", "1"], r"1 answer\(s\) lie outside their bounds, e\.g\. value 3 of task 'q0'"),
    (["{d}/answers.csv", "--bounds", "5", "1"], r"bounds for 'all tasks' are invalid"),
    (["{d}/answers.csv", "--bounds-file", "{d}/bounds_partial.csv"], r"bounds table has no row for 29 task\(s\)"),
    ([*A, "--dataset", "synthetic"], r"give either an ANSWERS file or --dataset NAME \(exactly one\)"),
    (["--dataset", "synthetic", "--dataset-option", "n_tasks=0"], r"n_tasks must be a positive integer"),
]


@pytest.mark.parametrize("existing", [False, True], ids=["new-out", "existing-out"])
@pytest.mark.parametrize(("argv", "message"), ERROR_CASES, ids=[" ".join(c[0][1:]) or c[0][0] for c in ERROR_CASES])
def test_input_errors(
    run: Run, files: dict[str, Path], tmp_path: Path, argv: list[str], message: str, existing: bool
) -> None:
    for name, text in BAD_FILES.items():
        (tmp_path / name).write_text(text)
    out = tmp_path / "out.csv"
    if existing:
        out.write_text("task,worker,value,malicious\nold,w,1,False\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, stdout, err = run("attack", *[a.format(d=tmp_path) for a in argv], "-o", out)
    line = assert_input_error(code, stdout, err)
    assert re.search(message, line), line
    assert stdout == ""
    if existing:
        assert out.read_text() == "task,worker,value,malicious\nold,w,1,False\n"
    else:
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary files left either


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fraction", "0.2", "--n-malicious", "2"], r"argument --n-malicious: not allowed with argument --fraction"),
        (["--n-malicious", "2", "--fraction", "0.2"], r"argument --fraction: not allowed with argument --n-malicious"),
        (["--fraction", "lots"], r"argument --fraction: invalid float value: 'lots'"),
        (["--n-malicious", "2.5"], r"argument --n-malicious: invalid int value: '2\.5'"),
        (["--knowledge", "omniscient"], r"argument --knowledge: invalid choice: 'omniscient'"),
        (["--goal", "chaos"], r"argument --goal: invalid choice: 'chaos'"),
        (["--known-fraction", "half"], r"argument --known-fraction: invalid float value"),
        (["--bounds", "0", "1", "--bounds-file", "b.csv"], r"not allowed with argument"),
    ],
)
def test_usage_errors(run: Run, tmp_path: Path, argv: list[str], message: str) -> None:
    out = tmp_path / "out.csv"
    code, stdout, err = run("attack", "--dataset", "synthetic", *argv, "-o", out)
    line = assert_input_error(code, stdout, err, prefix="truthguard: error:")
    assert re.search(message, line), line
    assert line.endswith("; see 'truthguard attack --help'"), line
    assert not out.exists()


@pytest.mark.parametrize("value", ["none", "3"])
def test_attack_param_threat_is_an_input_error(run: Run, files: dict[str, Path], tmp_path: Path, value: str) -> None:
    """The threat model comes from the threat options; ``--attack-param threat=...`` must be a clean input error."""
    out = tmp_path / "out.csv"
    code, stdout, err = run("attack", files["answers"], "--bounds", "-100", "100", "--attack", "random",
                            "--attack-param", f"threat={value}", "-o", out)  # fmt: skip
    line = assert_input_error(code, stdout, err)
    assert "threat" in line
    assert not out.exists()


# ------------------------------------------------------------------ hardening: ids, sizes, seeds


def test_largest_integer_worker_id(run: Run, tmp_path: Path) -> None:
    """Worker id 2**63 - 1 with an attack: OverflowError in _extend_workers."""
    path = tmp_path / "a.csv"
    path.write_text(f"task,worker,value\n1,{2**63 - 1},3\n1,0,4\n2,0,5\n")
    out = tmp_path / "p.csv"
    code, _, err = run("attack", path, "--bounds", "0", "10", "--attack", "random", "--n-malicious", "2", "-o", out)
    assert code == 0, err
    table = pd.read_csv(out)
    # task 1: the honest workers, then the malicious ones, which take the smallest unused integers, 1 and 2
    assert table["worker"].tolist() == [0, 9223372036854775807, 1, 2, 0, 1, 2]
    assert table.loc[table["malicious"], "worker"].unique().tolist() == [1, 2]


def test_float_worker_ids_to_parquet(run: Run, tmp_path: Path) -> None:
    """Float worker ids with an attack written to Parquet: ArrowInvalid (mixed floats and ``malicious-1``)."""
    source = tmp_path / "a.parquet"
    pd.DataFrame({"task": [1, 1, 2], "worker": [0.5, 1.5, 0.5], "value": [1.0, 2.0, 3.0]}).to_parquet(source)
    out = tmp_path / "p.parquet"
    code, _, err = run("attack", source, "--bounds", "0", "10", "--attack", "maximum", "--n-malicious", "1", "-o", out)
    assert code == 0, err
    back = pd.read_parquet(out)
    assert back["worker"].dtype == np.float64 and sorted(set(back["worker"])) == [0.5, 1.5, 2.0]
    code, _, err = run("aggregate", out, "--method", "mean")  # the poisoned file reads back unchanged
    assert code == 0, err


def test_a_million_malicious_workers_are_refused_at_once(run: Run) -> None:
    """``--n-malicious 1000000`` with the optimised attack ran for minutes without a sign of life."""
    code, out, err = run("attack", "--dataset", "synthetic", "--n-malicious", "1000000")
    line = assert_input_error(code, out, err)
    assert (
        line
        == "truthguard: error: n_malicious=1000000 exceeds 99% of all workers with 100 honest ones; give at most 9900"
    )


@pytest.mark.parametrize("seed", ["-1", "1.5", "x"])
def test_bad_seed(run: Run, seed: str) -> None:
    code, out, err = run("attack", "--dataset", "synthetic", "--attack", "random", "--seed", seed)
    assert f"argument --seed: the seed must be an integer >= 0, got '{seed}'" in assert_input_error(code, out, err)
