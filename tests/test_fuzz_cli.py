"""Fuzzing ``truthguard aggregate`` with malformed CSV text (hypothesis).

Whatever the file holds, the command either succeeds (exit 0, a complete output whose tasks are exactly the
input's, finite estimates, a JSON summary) or refuses (exit 2, one line ``truthguard: error: …``, no output
file) — never a traceback, never a temporary file left behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truthguard.aggregators import AGGREGATORS
from truthguard.cli.main import main

FIELDS = st.one_of(
    st.sampled_from(["1", "2", "007", "07", "-3", "+4", "1.0", "1e3", "-1e308", "1e308", "nan", "NaN", "inf",
                     "-inf", "NA", "", " ", "a", "b", "x y", '"q,1"', '"a ""b"""', "true", "2024-01-01", "é",
                     "0x10", "1_000", "9" * 25, "\t5", "5 "]),
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6),
)  # fmt: skip
HEADERS = st.sampled_from([
    ["task", "worker", "value"], ["task", "worker", "label"], ["task", "worker", "value", "value"],
    ["task", "worker"], ["worker", "task", "value", "extra"], [" task", "worker ", "value"],
    ["task", "worker", "value", ""], ["Task", "Worker", "Value"], ["task", "task", "value"],
])  # fmt: skip


@st.composite
def csv_texts(draw: st.DrawFn) -> bytes:
    """A header and rows of random fields, mostly the right count, with random defects; or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    header = draw(HEADERS)
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        width = len(header) + draw(st.sampled_from([0, 0, 0, 0, 1, -1, 2]))
        rows.append(",".join(draw(FIELDS) for _ in range(max(width, 0))))
    lines = [",".join(header), *rows]
    newline = draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
    text = newline.join(lines) + draw(st.sampled_from(["", "\n", ",\n"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse; not expected here, but reported as the status it carries
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=csv_texts(), method=st.sampled_from(sorted(AGGREGATORS)), suffix=st.sampled_from([".csv", ".csv.gz"]))
def test_malformed_csv_never_crashes(data: bytes, method: str, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "answers.csv", Path(folder) / f"estimates{suffix}"
        source.write_bytes(data)
        code, out, err = _run("aggregate", str(source), "--method", method, "-o", str(target), "--json")
        assert "Traceback" not in err + out
        assert sorted(p.name for p in Path(folder).iterdir()) == sorted(
            ["answers.csv"] + ([target.name] if code == 0 else [])
        ), "a temporary file was left behind, or an output appeared after an error"
        if code == 2:
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("truthguard: error: "), err
            assert out == ""
            return
        assert code == 0, (code, err)
        assert all(line.startswith("truthguard: warning: ") for line in err.splitlines()), err
        summary = json.loads(out)
        # Ids are written as read: a task called "NA" stays "NA" (pandas would make it NaN by default).
        estimates = pd.read_csv(target, dtype={"task": str}, keep_default_na=False)
        assert list(estimates.columns) == ["task", "value"]
        assert np.all(np.isfinite(estimates["value"].to_numpy()))
        assert len(estimates) == summary["n_tasks"] == estimates["task"].nunique()
        raw = pd.read_csv(source, dtype=str, skipinitialspace=True, keep_default_na=False, encoding="utf-8-sig")
        raw.columns = [c.strip() for c in raw.columns]
        assert summary["n_answers"] == len(raw)  # every row was read, none shifted or dropped
        assert sorted(estimates["task"]) == sorted(raw["task"].str.strip().unique())  # ids as written


SIDE_HEADERS = {
    "--truth": [["task", "truth"], ["task", "truth", "truth"], ["truth", "task"], ["task"], ["task", "value"]],
    "--bounds-file": [["task", "low", "high"], ["task", "high", "low"], ["task", "low"], ["task", "low", "high", "x"]],
    "--weights": [["worker", "weight"], ["weight", "worker"], ["worker"], ["worker", "weight", "weight"]],
}
ANSWERS = "task,worker,value\n1,a,3\n1,b,4\n2,a,5\n007,b,-2\n"


@st.composite
def side_files(draw: st.DrawFn) -> tuple[str, bytes]:
    option = draw(st.sampled_from(sorted(SIDE_HEADERS)))
    header = draw(st.sampled_from(SIDE_HEADERS[option]))
    ids = st.sampled_from(["1", "2", "007", "7", "a", "b", "c", "", "1.0"])
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        width = len(header) + draw(st.sampled_from([0, 0, 0, 1, -1]))
        rows.append(",".join(draw(st.one_of(ids, FIELDS)) for _ in range(max(width, 0))))
    return option, ("\n".join([",".join(header), *rows]) + "\n").encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(side=side_files())
def test_malformed_truth_bounds_and_weights_never_crash(side: tuple[str, bytes]) -> None:
    option, data = side
    with tempfile.TemporaryDirectory() as folder:
        answers, extra, target = Path(folder) / "a.csv", Path(folder) / "side.csv", Path(folder) / "out.csv"
        answers.write_text(ANSWERS)
        extra.write_bytes(data)
        code, out, err = _run("aggregate", str(answers), "--method", "mean", option, str(extra), "-o", str(target))
        assert "Traceback" not in err + out
        if code == 2:
            assert len(err.splitlines()) == 1 and err.startswith("truthguard: error: "), err
            assert not target.exists()
        else:
            assert code == 0, (code, err)
            assert np.all(np.isfinite(pd.read_csv(target)["value"].to_numpy()))
        assert sorted(p.name for p in Path(folder).iterdir()) == sorted(
            ["a.csv", "side.csv"] + (["out.csv"] if code == 0 else [])
        )
