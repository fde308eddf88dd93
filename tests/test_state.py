"""Saved fit states (issue #11): save_state / load_state, --save-state / --warm-start; bad files, clear errors."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import assert_input_error, make_runner
from truthguard.aggregators import CRH, GTM
from truthguard.datasets import make_synthetic
from truthguard.errors import InputError


@pytest.fixture(scope="module")
def halves() -> tuple[pd.DataFrame, pd.DataFrame]:
    answers = make_synthetic(n_tasks=300, n_workers=25, density=0.3, seed=5).answers.sample(frac=1.0, random_state=1)
    return answers.iloc[: len(answers) * 4 // 5], answers.iloc[len(answers) * 4 // 5 :]


def test_a_saved_fit_continues_as_the_fit_in_memory(halves: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    old, new = halves
    path = tmp_path / "gtm.state"
    GTM().fit(old).save_state(path)
    restored = GTM().load_state(path)
    in_memory = GTM().fit(old)
    pd.testing.assert_series_equal(restored.truths_, in_memory.truths_)
    pd.testing.assert_series_equal(restored.weights_, in_memory.weights_)
    assert restored.n_iter_ == in_memory.n_iter_
    pd.testing.assert_series_equal(restored.partial_fit(new).truths_, in_memory.partial_fit(new).truths_)
    again = tmp_path / "again.state"
    GTM().fit(old).save_state(again)
    assert again.read_bytes() == path.read_bytes()  # same fit, same bytes
    with zipfile.ZipFile(path) as archive:
        header = json.loads(archive.read("state.json"))
        answers = pd.read_parquet(io.BytesIO(archive.read("answers.parquet")))
    assert header["format"] == "truthguard-state" and header["version"] == 1 and header["method"] == "GTM()"
    assert len(answers) == len(old) and list(answers.columns) == ["task", "worker", "value"]


def _rewrite(source: Path, target: Path, change: dict[str, object] | None = None, drop: str | None = None) -> None:
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for name in archive.namelist():
            if name == drop:
                continue
            data = archive.read(name)
            if name == "state.json" and change:
                data = json.dumps(json.loads(data) | change).encode()
            out.writestr(name, data)


def test_bad_state_files_get_clear_errors(halves: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    good = tmp_path / "crh.state"
    CRH().fit(halves[0]).save_state(good)
    cases = {
        "missing": (tmp_path / "nope.state", "does not exist"),
        "junk": (tmp_path / "junk.state", "damaged or not a state file"),
        "version": (tmp_path / "v9.state", "format version 9"),
        "format": (tmp_path / "other.state", "not a TruthGuard state file"),
        "member": (tmp_path / "short.state", "lacks weights.parquet"),
    }
    cases["junk"][0].write_text("not a zip")
    _rewrite(good, cases["version"][0], {"version": 9})
    _rewrite(good, cases["format"][0], {"format": "something"})
    _rewrite(good, cases["member"][0], drop="weights.parquet")
    for path, message in cases.values():
        with pytest.raises(InputError, match=message):
            CRH().load_state(path)
    with pytest.raises(InputError, match=r"written by CRH\(\), not CRH\(loss='absolute'\)"):
        CRH(loss="absolute").load_state(good)


def test_cli_saves_and_continues(
    halves: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_runner(capsys)
    old, new = halves
    paths = {name: tmp_path / f"{name}.csv" for name in ("old", "new", "all")}
    old.to_csv(paths["old"], index=False)
    new.to_csv(paths["new"], index=False)
    pd.concat([old, new]).to_csv(paths["all"], index=False)
    state = tmp_path / "crh.state"
    assert run("aggregate", paths["old"], "--save-state", state)[0] == 0
    code, out, _ = run("aggregate", paths["new"], "--warm-start", state, "-o", tmp_path / "inc.csv", "--json")
    assert code == 0 and json.loads(out)["previous_answers"] == len(old)
    assert run("aggregate", paths["all"], "-o", tmp_path / "full.csv")[0] == 0
    incremental = pd.read_csv(tmp_path / "inc.csv").set_index("task")["value"]
    full = pd.read_csv(tmp_path / "full.csv").set_index("task")["value"]
    np.testing.assert_allclose(incremental.sort_index(), full.sort_index(), atol=1e-4)
    line = assert_input_error(*run("aggregate", paths["new"], "--method", "gtm", "--warm-start", state))
    assert "written by CRH(), not GTM()" in line
    assert "already answered" in assert_input_error(*run("aggregate", paths["old"], "--warm-start", state))
    assert "does not exist" in assert_input_error(*run("aggregate", paths["new"], "--warm-start", tmp_path / "x"))
