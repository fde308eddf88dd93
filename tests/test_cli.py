"""The ``truthguard`` command line, mostly in-process through ``main(argv)``; two subprocess runs of the script."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import Run, assert_input_error, make_runner
from truthguard import __version__, datasets, metrics, read_answers
from truthguard.aggregators import CRH, Mean, Median, TrimmedMean
from truthguard.aggregators.registry import AGGREGATORS
from truthguard.attacks import ATTACKS
from truthguard.datasets import files, make_synthetic
from truthguard.defenses import DEFENSES

SCRIPT = Path(sys.executable).with_name("truthguard")
JSON_KEYS = {"method", "n_tasks", "n_workers", "n_answers", "n_iter", "converged", "mae", "rmse", "n_truth"}


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(capsys)


@pytest.fixture(scope="module")
def sample() -> datasets.Dataset:
    """Small synthetic data with string task ids: 30 tasks, 8 workers, every worker answers every task."""
    data = make_synthetic(n_tasks=30, n_workers=8, seed=7)
    answers = data.answers.assign(task="q" + data.answers["task"].astype(str))
    truth = pd.Series(data.truth.to_numpy(), index=pd.Index("q" + data.truth.index.astype(str), name="task"))
    return datasets.Dataset("sample", answers, truth.rename("truth"), data.bounds, "sample")


@pytest.fixture
def inputs(tmp_path: Path, sample: datasets.Dataset) -> dict[str, Path]:
    """The sample as CSV and Parquet files, with its truth, bounds and worker weights."""
    paths = {
        "csv": tmp_path / "answers.csv",
        "parquet": tmp_path / "answers.parquet",
        "truth": tmp_path / "truth.csv",
        "bounds": tmp_path / "bounds.csv",
        "weights": tmp_path / "weights.csv",
    }
    sample.answers.to_csv(paths["csv"], index=False)
    sample.answers.to_parquet(paths["parquet"], index=False)
    sample.truth.reset_index().to_csv(paths["truth"], index=False)
    tasks = sorted(sample.answers["task"].unique())
    pd.DataFrame({"task": tasks, "low": -100.0, "high": 100.0}).to_csv(paths["bounds"], index=False)
    weights = pd.DataFrame({"worker": range(8), "weight": [1.0, 2.0, 0.5, 3.0, 1.0, 0.0, 4.0, 1.5]})
    weights.to_csv(paths["weights"], index=False)
    return paths


def read_estimates(path: Path | str) -> pd.DataFrame:
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


def assert_matches(table: pd.DataFrame, expected: pd.Series) -> None:
    assert list(table.columns) == ["task", "value"]
    assert table["task"].astype(str).tolist() == [str(t) for t in expected.index]
    assert table["task"].is_unique
    np.testing.assert_allclose(table["value"].to_numpy(), expected.to_numpy(), rtol=1e-12, atol=0)


# ------------------------------------------------------------------ aggregate: built-in dataset


def test_aggregate_synthetic_crh(run: Run) -> None:
    code, out, err = run("aggregate", "--dataset", "synthetic", "--method", "crh")
    assert code == 0, err
    assert err == ""
    assert "method      crh" in out
    assert "dataset synthetic: 100,000 answers, 100 workers, 1,000 tasks" in out
    assert "accuracy    MAE" in out
    assert "not saved" in out


def test_aggregate_synthetic_json_matches_api(run: Run) -> None:
    code, out, err = run("aggregate", "--dataset", "synthetic", "--method", "crh", "--json")
    assert code == 0, err
    summary = json.loads(out)  # the whole of stdout is one JSON object
    assert isinstance(summary, dict)
    assert set(summary) >= JSON_KEYS
    data = datasets.load("synthetic")
    model = CRH().fit(data.answers)
    assert summary["method"] == "crh"
    assert summary["n_answers"] == len(data.answers)
    assert summary["n_tasks"] == data.answers["task"].nunique()
    assert summary["n_workers"] == data.answers["worker"].nunique()
    assert summary["n_iter"] == model.n_iter_
    assert summary["converged"] is model.converged_
    assert summary["mae"] == metrics.mae(model.truths_, data.truth)
    assert summary["rmse"] == metrics.rmse(model.truths_, data.truth)
    assert summary["n_truth"] == len(data.truth)
    assert summary["output"] is None
    assert summary["params"]["max_iter"] == 100


def test_dataset_option_and_seed(run: Run, tmp_path: Path) -> None:
    def estimates(seed: str, name: str, *extra: str) -> bytes:
        out = tmp_path / name
        code, _, err = run("aggregate", "--dataset", "synthetic", "--dataset-option", "n_tasks=50", *extra,
                           "--seed", seed, "-o", out)  # fmt: skip
        assert code == 0, err
        return out.read_bytes()

    first, again, other = estimates("3", "a.csv"), estimates("3", "b.csv"), estimates("4", "c.csv")
    assert first == again
    assert first != other
    table = pd.read_csv(io.BytesIO(first))
    assert len(table) == 50
    data = make_synthetic(n_tasks=50, seed=3)
    assert_matches(table, CRH().fit_predict(data.answers))


def test_dataset_option_seed_wins_over_seed(run: Run) -> None:
    code, out, _ = run("aggregate", "--dataset", "synthetic", "--dataset-option", "n_tasks=20", "--dataset-option",
                       "n_workers=5", "--dataset-option", "seed=9", "--seed", "1", "--json")  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    assert (summary["n_tasks"], summary["n_workers"], summary["n_answers"]) == (20, 5, 100)
    data = make_synthetic(n_tasks=20, n_workers=5, seed=9)
    assert summary["mae"] == metrics.mae(CRH().fit_predict(data.answers), data.truth)


def test_real_dataset_matches_api(run: Run, load_real: Callable[..., datasets.Dataset]) -> None:
    data = load_real("emotion")
    code, out, err = run("aggregate", "--dataset", "emotion", "--method", "crh", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["n_answers"] == len(data.answers)
    assert summary["mae"] == metrics.mae(CRH().fit_predict(data.answers), data.truth)


# ------------------------------------------------------------------ aggregate: answer files


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_answers_file_with_truth_and_output(run: Run, inputs: dict[str, Path], tmp_path: Path, kind: str) -> None:
    out = tmp_path / "estimates.csv"
    code, stdout, err = run("aggregate", inputs[kind], "--method", "crh", "--truth", inputs["truth"], "-o", out,
                            "--json")  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    answers = read_answers(inputs[kind])
    expected = CRH().fit_predict(answers)
    assert summary["n_answers"] == answers.n_answers == 240
    assert summary["n_tasks"] == 30
    assert summary["output"] == str(out)
    truth = pd.read_csv(inputs["truth"]).set_index("task")["truth"]
    assert summary["mae"] == pytest.approx(metrics.mae(expected, truth), rel=1e-12)
    assert summary["n_truth"] == 30
    table = pd.read_csv(out)
    assert len(table) == answers.n_tasks
    assert_matches(table, expected)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_answers_file_without_truth_has_no_scores(run: Run, inputs: dict[str, Path]) -> None:
    code, out, _ = run("aggregate", inputs["csv"], "--json")
    assert code == 0
    summary = json.loads(out)
    assert not {"mae", "rmse", "n_truth"} & set(summary)
    assert summary["input"] == str(inputs["csv"])


def test_text_summary_mentions_the_output(run: Run, inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "est.csv"
    code, stdout, err = run("aggregate", inputs["csv"], "--truth", inputs["truth"], "-o", out)
    assert code == 0
    assert err == ""
    assert f"written to {out}" in stdout
    assert "over 30 tasks with truth" in stdout


@pytest.mark.parametrize("name", ["estimates.parquet", "estimates.pq"])
def test_parquet_output(run: Run, inputs: dict[str, Path], tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    code, _, err = run("aggregate", inputs["parquet"], "-m", "gtm", "-o", out)
    assert code == 0, err
    table = pd.read_parquet(out)
    expected = AGGREGATORS["gtm"]().fit_predict(read_answers(inputs["parquet"]))
    assert list(table.columns) == ["task", "value"]
    assert table["task"].tolist() == expected.index.tolist()
    np.testing.assert_array_equal(table["value"].to_numpy(), expected.to_numpy())


def test_output_to_stdout(run: Run, inputs: dict[str, Path]) -> None:
    code, out, err = run("aggregate", inputs["csv"], "-m", "median", "-o", "-")
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    assert_matches(table, Median().fit_predict(read_answers(inputs["csv"])))
    assert "method      median" in err  # the summary moves to stderr to keep stdout a clean CSV


def test_param_changes_crh_like_the_api(run: Run, inputs: dict[str, Path], tmp_path: Path) -> None:
    answers = read_answers(inputs["csv"])
    code, _, _ = run("aggregate", inputs["csv"], "-m", "crh", "-p", "loss=absolute", "-p", "max_iter=50",
                     "-o", tmp_path / "abs.csv")  # fmt: skip
    assert code == 0
    assert run("aggregate", inputs["csv"], "-m", "crh", "-o", tmp_path / "sq.csv")[0] == 0
    absolute = CRH(loss="absolute", max_iter=50).fit_predict(answers)
    assert_matches(pd.read_csv(tmp_path / "abs.csv"), absolute)
    default = pd.read_csv(tmp_path / "sq.csv")
    assert_matches(default, CRH().fit_predict(answers))
    assert not np.allclose(default["value"], absolute.to_numpy())


def test_param_json_reports_params(run: Run, inputs: dict[str, Path]) -> None:
    code, out, _ = run("aggregate", inputs["csv"], "-m", "CRH", "-p", "loss=absolute", "-p", "tol=0.001", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["method"] == "crh"
    assert summary["params"]["loss"] == "absolute"
    assert summary["params"]["tol"] == 0.001


def test_param_trim(run: Run, inputs: dict[str, Path], tmp_path: Path) -> None:
    answers = read_answers(inputs["csv"])
    code, _, _ = run("aggregate", inputs["csv"], "-m", "trimmed-mean", "-p", "trim=0.2", "-o", tmp_path / "t.csv")
    assert code == 0
    expected = TrimmedMean(trim=0.2).fit_predict(answers)
    assert_matches(pd.read_csv(tmp_path / "t.csv"), expected)
    assert not np.allclose(expected.to_numpy(), TrimmedMean().fit_predict(answers).to_numpy())


@pytest.mark.parametrize(("method", "cls"), [("mean", Mean), ("median", Median)])
def test_weights(run: Run, inputs: dict[str, Path], tmp_path: Path, method: str, cls: type[Mean | Median]) -> None:
    out = tmp_path / "w.csv"
    code, _, err = run("aggregate", inputs["csv"], "-m", method, "--weights", inputs["weights"], "-o", out)
    assert code == 0, err
    weights = pd.read_csv(inputs["weights"]).set_index("worker")["weight"]
    answers = read_answers(inputs["csv"])
    expected = cls(weights=weights).fit_predict(answers)
    assert_matches(pd.read_csv(out), expected)
    assert not np.allclose(expected.to_numpy(), cls().fit_predict(answers).to_numpy())


@pytest.mark.parametrize(("policy", "expected"), [("mean", [2.0, 5.0]), ("last", [3.0, 5.0])])
def test_on_duplicate(run: Run, write_csv: Callable[[str, str], Path], policy: str, expected: list[float]) -> None:
    path = write_csv("dup.csv", "task,worker,value\nx,a,1\ny,a,5\nx,a,3\n")
    code, out, err = run("aggregate", path, "-m", "mean", "--on-duplicate", policy, "-o", "-")
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out))
    assert table["task"].tolist() == ["x", "y"]
    assert table["value"].tolist() == expected


def test_bounds_that_hold(run: Run, inputs: dict[str, Path]) -> None:
    assert run("aggregate", inputs["csv"], "--bounds", "-100", "100")[0] == 0
    assert run("aggregate", inputs["csv"], "--bounds-file", inputs["bounds"])[0] == 0


def test_bounds_on_the_boundary(run: Run, write_csv: Callable[[str, str], Path]) -> None:
    path = write_csv("edge.csv", "task,worker,value\nx,a,0\nx,b,10\n")
    assert run("aggregate", path, "--bounds", "0", "10")[0] == 0
    bounds = write_csv("b.csv", "task,low,high\nx,0,10\n")
    assert run("aggregate", path, "--bounds-file", bounds)[0] == 0


# ------------------------------------------------------------------ aggregate: input errors

ANSWERS = "task,worker,value\nx,a,1\nx,b,2\ny,a,3\n"
BAD_FILES = {
    "good.csv": ANSWERS,
    "no_value.csv": "task,worker\nx,a\n",
    "no_task.csv": "worker,value\na,1\n",
    "no_worker.csv": "task,value\nx,1\n",
    "text.csv": "task,worker,value\nx,a,1\nx,b,abc\n",
    "nan.csv": "task,worker,value\nx,a,1\nx,b,\n",
    "inf.csv": "task,worker,value\nx,a,1\nx,b,inf\n",
    "neginf.csv": "task,worker,value\nx,a,-inf\n",
    "dup.csv": "task,worker,value\nx,a,1\nx,a,2\n",
    "empty.csv": "",
    "header.csv": "task,worker,value\n",
    "bounds_x.csv": "task,low,high\nx,0,10\n",
    "bounds_bad.csv": "task,low,high\nx,10,0\ny,0,1\n",
    "truth_unknown.csv": "task,truth\nx,1\nzz,2\n",
    "truth_text.csv": "task,truth\nx,abc\n",
    "truth_dup.csv": "task,truth\nx,1\nx,2\n",
    "weights.csv": "worker,weight\na,1\nb,1\n",
    "weights_cols.csv": "who,weight\na,1\n",
    "weights_neg.csv": "worker,weight\na,-1\nb,1\n",
}

ERROR_CASES = [
    (["{d}/no_value.csv"], r"missing column\(s\) value"),
    (["{d}/no_task.csv"], r"missing column\(s\) task"),
    (["{d}/no_worker.csv"], r"missing column\(s\) worker"),
    (["{d}/text.csv"], r"non-numeric value 'abc' at row 2 \(task 'x', worker 'b'\)"),
    (["{d}/nan.csv"], r"missing \(NaN\) at row 2"),
    (["{d}/inf.csv"], r"infinite \(inf\) at row 2"),
    (["{d}/neginf.csv"], r"infinite \(-inf\) at row 1"),
    (["{d}/dup.csv"], r"repeat a \(task, worker\) pair.*--on-duplicate mean\|last"),
    (["{d}/empty.csv"], r"answers file '.*empty\.csv' is empty"),
    (["{d}/header.csv"], r"answers are empty"),
    (["{d}/good.csv", "--bounds", "0", "2.5"], r"value 3 of task 'y' \(worker 'a'\) is outside \[0, 2\.5\]"),
    (["{d}/good.csv", "--bounds", "5", "1"], r"bounds .* are invalid: low=5, high=1"),
    (["{d}/good.csv", "--bounds-file", "{d}/bounds_x.csv"], r"no row for 1 task\(s\), e\.g\. 'y'"),
    (["{d}/good.csv", "--bounds-file", "{d}/bounds_bad.csv"], r"bounds for 'x' are invalid"),
    (["{d}/good.csv", "--bounds-file", "{d}/nope.csv"], r"bounds file .* does not exist"),
    (["{d}/good.csv", "--truth", "{d}/truth_unknown.csv"], r"names 1 task\(s\) that have no answers, e\.g\. 'zz'"),
    (["{d}/good.csv", "--truth", "{d}/truth_text.csv"], r"non-numeric or infinite truth at row 1"),
    (["{d}/good.csv", "--truth", "{d}/truth_dup.csv"], r"gives task 'x' more than once"),
    (["{d}/good.csv", "--truth", "{d}/nope.csv"], r"truth file .* does not exist"),
    (["{d}/good.csv", "--method", "nope"], r"unknown method 'nope'; choose one of mean, median"),
    (["{d}/good.csv", "-p", "foo=1"], r"CRH has no parameter 'foo'; valid parameters: loss"),
    (["{d}/good.csv", "-p", "max_iter=0"], r"max_iter must be a positive integer; got 0"),
    (["{d}/good.csv", "-p", "loss=cubic"], r"unknown CRH loss 'cubic'"),
    (["{d}/good.csv", "-m", "trimmed-mean", "-p", "trim=0.6"], r"trim must be a number in \[0, 0\.5\)"),
    (["{d}/good.csv", "-p", "max_iter"], r"--param takes KEY=VALUE; got 'max_iter'"),
    (["{d}/good.csv", "-p", "=3"], r"--param takes KEY=VALUE"),
    (["{d}/good.csv", "--dataset", "synthetic"], r"give either an ANSWERS file or --dataset NAME \(exactly one\)"),
    ([], r"give either an ANSWERS file or --dataset NAME"),
    (["--dataset", "nope"], r"unknown dataset 'nope'; choose one of synthetic, emotion, weather"),
    (["--dataset", "synthetic", "--dataset-option", "n_tasks=0"], r"n_tasks must be a positive integer"),
    (["--dataset", "synthetic", "--dataset-option", "colour=red"], r"has no option 'colour'"),
    (["--dataset", "synthetic", "--dataset-option", "n_tasks"], r"--dataset-option takes KEY=VALUE"),
    (["{d}/good.csv", "--dataset-option", "n_tasks=5"], r"--dataset-option applies only with --dataset"),
    (["{d}/good.csv", "--weights", "{d}/weights.csv"], r"--weights applies to the mean and median methods"),
    (["{d}/good.csv", "-m", "gtm", "--weights", "{d}/weights.csv"], r"not 'gtm'"),
    (["{d}/good.csv", "-m", "mean", "--weights", "{d}/weights_cols.csv"], r"weights file is missing column"),
    (["{d}/good.csv", "-m", "mean", "--weights", "{d}/weights_neg.csv"], r"weights must be finite and >= 0"),
    (["{d}/good.csv", "-m", "mean", "--weights", "{d}/nope.csv"], r"weights file .* does not exist"),
    (["{d}/nope.csv"], r"answers file '.*nope\.csv' does not exist; check the path"),
    (["{d}"], r"is a directory"),
]


@pytest.mark.parametrize("existing", [False, True], ids=["new-out", "existing-out"])
@pytest.mark.parametrize(("argv", "message"), ERROR_CASES, ids=[" ".join(c[0]) or "no-input" for c in ERROR_CASES])
def test_input_errors(run: Run, tmp_path: Path, argv: list[str], message: str, existing: bool) -> None:
    for name, text in BAD_FILES.items():
        (tmp_path / name).write_text(text)
    out = tmp_path / "out.csv"
    if existing:
        out.write_text("task,value\nold,1\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, stdout, err = run("aggregate", *[a.format(d=tmp_path) for a in argv], "-o", out)
    line = assert_input_error(code, stdout, err)
    assert re.search(message, line), line
    if existing:
        assert out.read_text() == "task,value\nold,1\n"
    else:
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary files left either


def test_output_into_missing_directory(run: Run, tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(ANSWERS)
    line = assert_input_error(*run("aggregate", tmp_path / "a.csv", "-o", tmp_path / "missing" / "out.csv"))
    assert re.search(r"directory .*missing' does not exist; create it", line), line
    assert not (tmp_path / "missing").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--on-duplicate", "first"], r"argument --on-duplicate: invalid choice"),
        (["--bounds", "a", "3"], r"argument --bounds: invalid float value: 'a'"),
        (["--bounds", "3"], r"argument --bounds: expected 2 arguments"),
        (["--bounds", "0", "1", "--bounds-file", "b.csv"], r"not allowed with argument"),
        (["--seed", "abc"], r"argument --seed: the seed must be an integer >= 0, got 'abc'"),
        (["--seed", "-5"], r"argument --seed: the seed must be an integer >= 0, got '-5'"),
        (["--no-such-option"], r"unrecognized arguments: --no-such-option"),
        (["a.csv", "b.csv"], r"unrecognized arguments: b\.csv"),
    ],
)
def test_usage_errors(run: Run, tmp_path: Path, argv: list[str], message: str) -> None:
    out = tmp_path / "out.csv"
    code, stdout, err = run("aggregate", *argv, "-o", out)
    line = assert_input_error(code, stdout, err, prefix="truthguard: error: ")
    assert re.search(message, line), line
    assert re.search(r"; see 'truthguard( aggregate)? --help'$", line), line
    assert not out.exists()


def test_usage_error_without_command(run: Run) -> None:
    code, out, err = run()
    assert_input_error(code, out, err, prefix="truthguard: error:")
    assert "COMMAND" in err


def test_usage_error_without_datasets_verb(run: Run) -> None:
    code, out, err = run("datasets")
    line = assert_input_error(code, out, err, prefix="truthguard: error:")
    assert line.endswith("; see 'truthguard datasets --help'")


# ------------------------------------------------------------------ datasets


def test_datasets_list(run: Run) -> None:
    code, out, _ = run("datasets", "list")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert set(names) == {"synthetic", "emotion", "weather"}
    code, out, _ = run("datasets", "list", "--json")
    assert code == 0
    listed = json.loads(out)["datasets"]
    assert [d["name"] for d in listed] == datasets.list_datasets()
    assert all(d["description"] for d in listed)


def test_datasets_info_synthetic(run: Run) -> None:
    code, out, _ = run("datasets", "info", "synthetic")
    assert code == 0
    assert out.startswith("synthetic: ")
    assert "options:" in out
    assert "n_tasks=1000" in out
    assert "sha256" not in out  # generated: no files
    code, out, _ = run("datasets", "info", "synthetic", "--json")
    payload = json.loads(out)
    assert payload["name"] == "synthetic"
    assert payload["options"]["n_tasks"] == 1000
    assert "files" not in payload


@pytest.mark.parametrize("name", ["emotion", "weather"])
def test_datasets_info_real(run: Run, name: str) -> None:
    code, out, _ = run("datasets", "info", name)
    assert code == 0
    assert out.startswith(f"{name}: ")
    assert "sha256" in out
    assert "citation:" in out
    code, out, _ = run("datasets", "info", name, "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["name"] == name
    assert payload["files"]
    for entry in payload["files"]:
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
        assert entry["urls"]
    assert payload["searched"]


def test_datasets_info_unknown(run: Run) -> None:
    line = assert_input_error(*run("datasets", "info", "nope"))
    assert "unknown dataset 'nope'" in line


def test_datasets_path_synthetic(run: Run) -> None:
    line = assert_input_error(*run("datasets", "path", "synthetic"))
    assert "generated on the fly" in line


def test_datasets_path_missing_files(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(files.DATA_ENV, raising=False)
    monkeypatch.setenv(files.CACHE_ENV, str(tmp_path / "cache"))
    line = assert_input_error(*run("datasets", "path", "emotion"))
    assert "'emotion' is not on this machine" in line
    assert str(tmp_path / "cache") in line
    assert "truthguard datasets path emotion --download" in line
    assert "TRUTHGUARD_DATA" in line
    assert not (tmp_path / "cache").exists()  # nothing was downloaded


# ------------------------------------------------------------------ methods


def test_methods(run: Run) -> None:
    code, out, _ = run("methods")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    assert names == list(AGGREGATORS) + list(DEFENSES) + list(ATTACKS)
    assert out.splitlines()[0] == "aggregation methods:" and "attacks:" in out.splitlines()
    assert "defenses:" in out.splitlines()
    assert "params: loss='squared'" in out
    code, out, _ = run("methods", "--json")
    assert code == 0
    payload = json.loads(out)
    methods = payload["methods"]
    assert [m["name"] for m in methods] == list(AGGREGATORS)
    assert [a["name"] for a in payload["attacks"]] == list(ATTACKS)
    assert [d["name"] for d in payload["defenses"]] == list(DEFENSES)
    assert "base" not in payload["defenses"][0]["params"]
    assert "threat" not in next(a for a in payload["attacks"] if a["name"] == "optimized")["params"]
    crh = next(m for m in methods if m["name"] == "crh")
    assert crh["class"] == "CRH"
    assert crh["params"]["max_iter"] == 100
    assert all(m["summary"] for m in methods)


# ------------------------------------------------------------------ help and version


@pytest.mark.parametrize("command", [[], ["aggregate"], ["datasets"], ["methods"], ["datasets", "info"]])
def test_help(run: Run, command: list[str]) -> None:
    code, out, err = run(*command, "--help")
    assert code == 0
    assert err == ""
    assert "usage: truthguard" in out
    if command != ["datasets", "info"]:
        assert "examples:" in out


def test_version(run: Run) -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert out.strip() == f"truthguard {__version__}"


# ------------------------------------------------------------------ the installed script


def test_script_help() -> None:
    result = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "examples:" in result.stdout
    assert result.stderr == ""


def test_script_input_error(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = subprocess.run(
        [str(SCRIPT), "aggregate", str(tmp_path / "nope.csv"), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert_input_error(result.returncode, result.stdout, result.stderr)
    assert "does not exist" in result.stderr
    assert not out.exists()


def test_python_dash_m_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "truthguard", "aggregate", "--bounds", "x", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = assert_input_error(result.returncode, result.stdout, result.stderr, prefix="truthguard: error:")
    assert line == "truthguard: error: argument --bounds: invalid float value: 'x'; see 'truthguard aggregate --help'"


# ------------------------------------------------------------------ bugs found while writing these tests


def test_output_onto_a_directory_is_an_input_error(run: Run, inputs: dict[str, Path], tmp_path: Path) -> None:
    """``-o DIR`` is a one-line error (exit 2), not an IsADirectoryError traceback."""
    folder = tmp_path / "folder"
    folder.mkdir()
    assert_input_error(*run("aggregate", inputs["csv"], "-o", folder))


def test_non_numeric_weights_are_an_input_error(run: Run, tmp_path: Path) -> None:
    """A weights file with a non-numeric weight is a one-line error, not a ValueError traceback."""
    (tmp_path / "a.csv").write_text(ANSWERS)
    (tmp_path / "w.csv").write_text("worker,weight\na,heavy\nb,1\n")
    out = tmp_path / "out.csv"
    line = assert_input_error(*run("aggregate", tmp_path / "a.csv", "-m", "mean", "--weights", tmp_path / "w.csv",
                                   "-o", out))  # fmt: skip
    assert "weight" in line
    assert not out.exists()


@pytest.mark.parametrize("option", ["truth_low=abc", "sigma_high=abc", "bias_scale=abc", "seed=abc"])
def test_non_numeric_dataset_options_are_input_errors(run: Run, option: str) -> None:
    """Text where the synthetic generator expects a number is a one-line error, not a TypeError traceback."""
    line = assert_input_error(*run("aggregate", "--dataset", "synthetic", "--dataset-option", option))
    assert option.split("=")[0] in line


def test_json_with_output_to_stdout_keeps_stdout_parseable(run: Run, inputs: dict[str, Path]) -> None:
    """With ``-o - --json`` stdout holds only the CSV and the JSON summary goes to stderr, like the text summary."""
    code, out, err = run("aggregate", inputs["csv"], "-o", "-", "--json")
    assert code == 0
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns) == ["task", "value"]
    assert len(table) == 30
    assert json.loads(err)["output"] == "-"


def test_error_messages_show_integer_ids_plainly(run: Run, tmp_path: Path) -> None:
    """Integer task ids are printed as ``2`` in CLI error messages, not ``np.int64(2)``."""
    (tmp_path / "a.csv").write_text("task,worker,value\n1,1,1\n2,1,5\n")
    (tmp_path / "t.csv").write_text("task,truth\n1,1\n9,2\n")
    line = assert_input_error(*run("aggregate", tmp_path / "a.csv", "--bounds", "0", "2"))
    assert "value 5 of task 2 (worker 1)" in line, line
    line = assert_input_error(*run("aggregate", tmp_path / "a.csv", "--truth", tmp_path / "t.csv"))
    assert "e.g. 9;" in line, line


def test_datasets_path_reports_checksum_mismatch(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files present in $TRUTHGUARD_DATA but failing their SHA-256 are reported as such, not as missing."""
    spec = datasets.info("emotion")
    assert spec.folder is not None
    folder = tmp_path / "data" / spec.folder.folder
    folder.mkdir(parents=True)
    for remote in spec.folder.files:
        (folder / remote.name).write_text("not the original\n")
    monkeypatch.setenv(files.DATA_ENV, str(tmp_path / "data"))
    line = assert_input_error(*run("datasets", "path", "emotion"))
    assert "not on this machine" not in line
    assert "SHA-256" in line
    assert str(folder) in line


# ------------------------------------------------------------------ hardening: command-line plumbing


@pytest.mark.parametrize(
    ("low", "high"),
    [("-1e3", "1e3"), ("-1E+3", "1000"), ("-.5", "100"), ("-5.", "100"), ("-1_000", "1_000"), ("-100", "-0.5")],
)
def test_negative_bounds_in_any_notation(run: Run, write_csv: Callable[[str, str], Path], low: str, high: str) -> None:
    """``--bounds -1e3 1e3`` was read as an option ("expected 2 arguments")."""
    path = write_csv("neg.csv", "task,worker,value\n1,a,-0.25\n1,b,-0.4\n")
    code, out, err = run("aggregate", path, "--bounds", low, high, "--json")
    if float(high) < 0:  # both answers lie above -0.5
        assert_input_error(code, out, err)
        assert "outside [-100, -0.5]" in err
    else:
        assert code == 0, err
        assert json.loads(out)["n_answers"] == 2


def test_negative_infinite_bound_is_an_input_error_not_an_option(run: Run, inputs: dict[str, Path]) -> None:
    code, out, err = run("aggregate", inputs["csv"], "--bounds", "-inf", "100")
    assert "give finite numbers with low <= high" in assert_input_error(code, out, err)


def test_answers_from_standard_input(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "truthguard", "aggregate", "-", "-m", "mean", "-o", "-"],
        input="task,worker,value\nq1,a,1\nq1,b,3\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "task,value\nq1,2.0\n"
    assert "input       -: 2 answers" in result.stderr  # the summary moves to stderr when stdout carries data


def test_an_unexpected_exception_is_one_line_with_status_1(
    run: Run, inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object, answers: object) -> None:
        raise RuntimeError("something nobody foresaw\nsecond line")

    monkeypatch.setattr(CRH, "_fit", broken)
    code, _, err = run("aggregate", inputs["csv"])
    assert code == 1
    assert err == (
        "truthguard: internal error: RuntimeError: something nobody foresaw; this is a bug, please report it "
        "(set TRUTHGUARD_DEBUG=1 to see where it happened)\n"
    )
    monkeypatch.setenv("TRUTHGUARD_DEBUG", "1")
    with pytest.raises(RuntimeError, match="something nobody foresaw"):
        run("aggregate", inputs["csv"])


def test_out_of_memory_is_one_line(run: Run, inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(self: object, answers: object) -> None:
        raise MemoryError

    monkeypatch.setattr(CRH, "_fit", exhausted)
    code, out, err = run("aggregate", inputs["csv"])
    assert "out of memory" in assert_input_error(code, out, err)


def test_numpy_warnings_never_reach_the_user_but_truthguard_warnings_do(
    run: Run, inputs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    from truthguard.errors import TruthGuardWarning

    real_fit = CRH._fit

    def noisy(self: CRH, answers: object) -> object:
        np.log(np.zeros(1))  # a RuntimeWarning from NumPy arithmetic
        warnings.warn(TruthGuardWarning("look at task q1"), stacklevel=1)
        return real_fit(self, answers)  # type: ignore[arg-type]

    monkeypatch.setattr(CRH, "_fit", noisy)
    code, _, err = run("aggregate", inputs["csv"])
    assert code == 0
    assert err == "truthguard: warning: look at task q1\n"


def test_weights_with_default_weight(run: Run, tmp_path: Path) -> None:
    """``--weights … -p default_weight=0.5`` always failed ("assignment destination is read-only")."""
    answers = tmp_path / "a.csv"
    answers.write_text("task,worker,value\n1,a,0\n1,b,3\n1,c,9\n")
    weights = tmp_path / "w.csv"
    weights.write_text("worker,weight\na,1\n")
    out = tmp_path / "e.csv"
    code, _, err = run("aggregate", answers, "-m", "mean", "--weights", weights, "-p", "default_weight=0.5", "-o", out)
    assert code == 0, err
    assert out.read_text() == "task,value\n1,3.0\n"  # (0 * 1 + 3 * 0.5 + 9 * 0.5) / 2
