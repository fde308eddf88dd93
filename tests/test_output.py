"""Writing results: never damage, never lose, never crash (API and command line).

Each case below was found by an adversarial audit of ``-o`` (issue: hardening); the rules themselves are in
``truthguard.core.output`` and the README's command-line section.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cli_helpers import Run, assert_input_error, make_runner, run_unprivileged, world_writable_dir
from truthguard import write_table
from truthguard.core.io import OUTPUT_SUFFIXES, read_table
from truthguard.core.output import open_output
from truthguard.errors import OutputError

ANSWERS = "task,worker,value\nq1,a,1\nq1,b,3\nq2,a,10\nq2,b,12\n"
ESTIMATES = pd.DataFrame({"task": ["q1", "q2"], "value": [2.0, 11.0]})


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(capsys)


@pytest.fixture
def answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.csv"
    path.write_text(ANSWERS)
    return path


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory an ordinary user may use, with the answers in it."""
    folder = world_writable_dir()
    (folder / "answers.csv").write_text(ANSWERS)
    (folder / "answers.csv").chmod(0o644)
    yield folder
    shutil.rmtree(folder)


def others(folder: Path, *keep: str) -> list[str]:
    """Names in ``folder`` other than ``keep`` (a leftover temporary file would show here)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def _unzip(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        (name,) = archive.namelist()
        return archive.read(name)


DECOMPRESS = {"gz": gzip.decompress, "bz2": bz2.decompress, "xz": lzma.decompress, "zip": _unzip}


def estimates_text() -> str:
    return "task,value\nq1,2.0\nq2,11.0\n"


# ------------------------------------------------------------------ permissions (as an ordinary user)

# The child of run_unprivileged only reads a small CSV and writes a file; it never touches JAX's threads.
unprivileged = pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")


@unprivileged
def test_into_a_read_only_directory(shared: Path) -> None:
    locked = shared / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    code, out, err = run_unprivileged("aggregate", shared / "answers.csv", "-o", locked / "out.csv")
    line = assert_input_error(code, out, err)
    assert f"cannot write '{locked}/out.csv' (cannot create a file in '{locked}': Permission denied)" in line
    assert line.endswith("check its permissions or choose another location")
    assert others(locked) == []


@unprivileged
def test_onto_a_read_only_file(shared: Path) -> None:
    """The temporary file was created with the target's mode 0444 and then could not be written."""
    target = shared / "old.csv"
    target.write_text("precious\n")
    target.chmod(0o444)
    code, out, err = run_unprivileged("aggregate", shared / "answers.csv", "-o", target)
    line = assert_input_error(code, out, err)
    assert line.endswith("the file is read-only; make it writable or choose another name")
    assert target.read_text() == "precious\n"
    assert others(shared, "answers.csv", "old.csv") == []


@unprivileged
def test_onto_dev_null_as_an_ordinary_user(shared: Path) -> None:
    code, out, err = run_unprivileged("aggregate", shared / "answers.csv", "-o", "/dev/null")
    assert (code, err) == (0, ""), err
    assert "estimates   written to /dev/null" in out
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)


# ------------------------------------------------------------------ special files, links


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_devices_are_written_in_place_never_replaced(run: Run, answers: Path, device: str) -> None:
    """As root, ``-o /dev/full`` replaced the device with a 29-byte regular file."""
    before = Path(device).stat()
    code, out, err = run("aggregate", answers, "-o", device)
    if device == "/dev/full":
        line = assert_input_error(code, out, err)
        assert line == (
            "truthguard: error: cannot write '/dev/full' (No space left on device); "
            "free some space or choose another location"
        )
    else:
        assert code == 0, err
    after = Path(device).stat()
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


@pytest.mark.parametrize("name", ["estimates.csv", "estimates.parquet", "pipe"])
def test_named_pipe_is_written_in_place(run: Run, answers: Path, tmp_path: Path, name: str) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    code, _, err = run("aggregate", answers, "-o", fifo)
    reader.join(timeout=30)
    assert code == 0, err
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    if name.endswith(".parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(received[0])), ESTIMATES)
    else:
        assert received[0].decode() == estimates_text()
    assert others(tmp_path, "answers.csv", name) == []


def test_symlink_is_followed_and_kept(run: Run, answers: Path, tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "estimates.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(Path("real") / "estimates.csv")  # relative, as people make them
    code, _, err = run("aggregate", answers, "-o", link)
    assert code == 0, err
    assert link.is_symlink()
    assert link.readlink() == Path("real") / "estimates.csv"
    assert target.read_text() == estimates_text()
    assert others(tmp_path / "real", "estimates.csv") == []


def test_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "new.csv")
    write_table(ESTIMATES, link)
    assert link.is_symlink()
    assert (tmp_path / "new.csv").read_text() == estimates_text()


def test_existing_mode_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    target.chmod(0o640)
    write_table(ESTIMATES, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


# ------------------------------------------------------------------ standard output


def _script(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "truthguard", *argv], capture_output=True, text=True, timeout=120, check=False, **kwargs
    )


@pytest.mark.parametrize("argv", [["-o", "-"], ["--json"], []], ids=["estimates", "json", "summary"])
def test_standard_output_on_a_full_disk(answers: Path, argv: list[str]) -> None:
    """``-o - > /dev/full`` and ``--json > /dev/full`` ended in an OSError traceback."""
    with Path("/dev/full").open("w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "truthguard", "aggregate", str(answers), *argv],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "truthguard: error: cannot write to standard output (No space left on device); "
        "free some space or choose another location\n"
    )


def test_closed_standard_output_is_an_error(answers: Path) -> None:
    """With standard output closed (``-o - >&-``) the run exited 0 and the estimates went nowhere."""
    result = subprocess.run(
        ["sh", "-c", f'exec "{sys.executable}" -m truthguard aggregate "{answers}" -o - >&-'],
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "truthguard: error: cannot write to standard output: it is closed; open it, or write the results with -o FILE\n"
    )


def test_broken_pipe_is_quiet(answers: Path) -> None:
    """``truthguard ... -o - | head -1``: the reader leaves early, nothing to report."""
    big = answers.parent / "big.csv"
    rows = [f"t{t},w{w},{(t * 7 + w) % 11}" for t in range(20000) for w in range(2)]
    big.write_text("task,worker,value\n" + "\n".join(rows) + "\n")
    pipeline = subprocess.run(
        f"{sys.executable} -m truthguard aggregate {big} -m mean -o - | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pipeline.stdout == "task,value\n"
    assert pipeline.stderr == ""


# ------------------------------------------------------------------ signals


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_terminated_during_a_write_leaves_nothing(
    run: Run, answers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    """SIGTERM or SIGHUP mid-write left a hidden ``.NAME.XXXX.tmp``; the old file must survive intact."""
    target = tmp_path / "estimates.csv"
    target.write_text("old\n")
    real_to_csv = pd.DataFrame.to_csv

    def slow_write(self: pd.DataFrame, handle: Any = None, *args: Any, **kwargs: Any) -> None:
        handle.write("task,value\nq1,")  # half a table on disk, then the signal arrives
        handle.flush()
        os.kill(os.getpid(), signum)
        real_to_csv(self, handle, *args, **kwargs)  # not reached: the handler raises at the next bytecode

    monkeypatch.setattr(pd.DataFrame, "to_csv", slow_write)
    before = signal.signal(signum, signal.SIG_DFL)  # as in a plain shell (under nohup SIGHUP is ignored)
    try:
        code, _, err = run("aggregate", answers, "-o", target)
        assert signal.getsignal(signum) is signal.SIG_DFL  # main restores what it found
    finally:
        signal.signal(signum, before)
    assert code == 128 + signum
    assert err == f"truthguard: terminated by {signal.Signals(signum).name}\n"
    assert target.read_text() == "old\n"
    assert others(tmp_path, "answers.csv", "estimates.csv") == []


def test_ignored_hangup_stays_ignored(run: Run, answers: Path, tmp_path: Path) -> None:
    """Under nohup SIGHUP is ignored: the run must go on, not turn the hang-up into a termination."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        seen: list[object] = []
        real_to_csv = pd.DataFrame.to_csv

        def hang_up_then_write(self: pd.DataFrame, *args: Any, **kwargs: Any) -> None:
            seen.append(signal.getsignal(signal.SIGHUP))
            os.kill(os.getpid(), signal.SIGHUP)
            real_to_csv(self, *args, **kwargs)

        pd.DataFrame.to_csv = hang_up_then_write  # type: ignore[method-assign]
        try:
            code, _, err = run("aggregate", answers, "-o", tmp_path / "estimates.csv")
        finally:
            pd.DataFrame.to_csv = real_to_csv  # type: ignore[method-assign]
        assert seen == [signal.SIG_IGN]
        assert code == 0, err
        assert (tmp_path / "estimates.csv").read_text() == estimates_text()
    finally:
        signal.signal(signal.SIGHUP, before)


def test_terminated_subprocess_mid_write(tmp_path: Path) -> None:
    """A real process killed with SIGTERM while writing a large file: no temporary file, old file intact."""
    target = tmp_path / "poisoned.csv"
    target.write_text("old\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "truthguard", "attack", "--dataset", "synthetic", "--dataset-option", "n_tasks=20000",
         "--attack", "random", "-o", str(target)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # The temporary file appears when writing starts; terminate then.
    for _ in range(6000):
        if any(p.name.startswith(".poisoned.csv.") for p in tmp_path.iterdir()) or process.poll() is not None:
            break
        threading.Event().wait(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    if process.returncode == 0:  # finished before the signal: then the file is complete
        assert target.read_text().startswith("task,worker,value,malicious\n")
    else:
        assert process.returncode == 128 + signal.SIGTERM, err
        assert err == "truthguard: terminated by SIGTERM\n"
        assert target.read_text() == "old\n"
    assert others(tmp_path, "poisoned.csv") == []


# ------------------------------------------------------------------ formats by suffix


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".CSV.GZ"])
def test_compressed_by_suffix_and_reproducible(run: Run, answers: Path, tmp_path: Path, suffix: str) -> None:
    """``-o est.csv.gz`` wrote plain text under a compressed name."""
    first, second = tmp_path / "one" / f"e{suffix}", tmp_path / "two" / f"e{suffix}"
    for target in (first, second):
        target.parent.mkdir()
        code, _, err = run("aggregate", answers, "-o", target)
        assert code == 0, err
    assert first.read_bytes() == second.read_bytes()  # no time stamps inside: same input, same bytes
    decompress = DECOMPRESS[suffix.lower().rsplit(".", 1)[-1]]  # the standard library's, independently
    assert decompress(first.read_bytes()).decode() == estimates_text()
    pd.testing.assert_frame_equal(read_table(first), ESTIMATES)


def test_zip_holds_one_csv_named_after_the_archive(tmp_path: Path) -> None:
    write_table(ESTIMATES, tmp_path / "estimates.csv.zip")
    with zipfile.ZipFile(tmp_path / "estimates.csv.zip") as archive:
        assert archive.namelist() == ["estimates.csv"]


def test_gzip_output_carries_no_name_or_time(tmp_path: Path) -> None:
    write_table(ESTIMATES, tmp_path / "e.csv.gz")
    header = (tmp_path / "e.csv.gz").read_bytes()[:10]
    assert header[4:8] == b"\0\0\0\0"  # mtime 0
    assert gzip.decompress((tmp_path / "e.csv.gz").read_bytes()).decode() == estimates_text()


@pytest.mark.parametrize("name", ["x.xlsx", "x.json", "x.tsv", "x.parquet.gz", "x.csv.7z"])
def test_unknown_suffix_is_refused_with_the_list(run: Run, answers: Path, tmp_path: Path, name: str) -> None:
    """``-o x.xlsx`` wrote CSV under an Excel name."""
    code, out, err = run("aggregate", answers, "-o", tmp_path / name)
    line = assert_input_error(code, out, err)
    assert f"cannot write '{tmp_path / name}': unknown file type" in line
    assert line.endswith(f"use one of {', '.join(OUTPUT_SUFFIXES)} (or - for standard output)")
    assert others(tmp_path, "answers.csv") == []


def test_no_suffix_is_csv(tmp_path: Path) -> None:
    write_table(ESTIMATES, tmp_path / "estimates")
    assert (tmp_path / "estimates").read_text() == estimates_text()


def test_parquet_with_mixed_id_types_is_written_as_text(tmp_path: Path) -> None:
    mixed = pd.DataFrame({"worker": [1.5, "malicious-1"], "value": [1.0, 2.0]})
    write_table(mixed, tmp_path / "m.parquet")
    assert pd.read_parquet(tmp_path / "m.parquet")["worker"].tolist() == ["1.5", "malicious-1"]


# ------------------------------------------------------------------ the context manager itself


def test_open_output_removes_the_temporary_file_on_any_exception(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), open_output(target) as stream:
        stream.write(b"new, half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert others(tmp_path, "out.bin") == []


def test_open_output_errors_are_output_errors(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"it is a directory; give a file name"), open_output(tmp_path):
        pass
    with (
        pytest.raises(OutputError, match=r"directory '.*nowhere' does not exist; create it"),
        open_output(tmp_path / "nowhere" / "x"),
    ):
        pass


def test_json_values_makes_strict_json() -> None:
    """NumPy scalars become numbers, NaN and infinities null, keys text, tuples lists, at any depth: what the
    command line prints and the audit writes parses as strict JSON."""
    import json

    import numpy as np

    from truthguard.core.output import json_values

    value = {"a": np.float64("nan"), 2: [np.int64(3), (float("inf"), -np.inf)], "b": {"c": np.bool_(True)}}
    assert json.loads(json.dumps(json_values(value), allow_nan=False)) == {
        "a": None, "2": [3, [None, None]], "b": {"c": True}}  # fmt: skip
