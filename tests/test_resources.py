"""Resources: refuse what cannot fit (before allocating), and show progress on what is long.

The memory checks compare an estimate with ``truthguard.core.resources.available_memory``; the tests below
shrink what is available (monkeypatch) where the real machine would have room, and use sizes no machine has
where it would not.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from cli_helpers import Run, assert_input_error, make_runner
from truthguard import datasets, read_answers
from truthguard.aggregators import Mean
from truthguard.attacks import OptimizedAttack, RandomAttack, ThreatModel
from truthguard.core import resources
from truthguard.core.progress import progress, progress_enabled, set_progress
from truthguard.datasets import emotion, files
from truthguard.errors import ResourceError


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(capsys)


def _shrink_memory(monkeypatch: pytest.MonkeyPatch, available: int) -> None:
    monkeypatch.setattr(resources, "available_memory", lambda: available)


# ------------------------------------------------------------------ synthetic data


def test_a_billion_synthetic_tasks_are_refused_before_any_allocation(run: Run) -> None:
    """``--dataset-option n_tasks=1000000000`` allocated 7.8 GB, then died in a MemoryError asking for 745 GiB."""
    code, out, err = run("aggregate", "--dataset", "synthetic", "--dataset-option", "n_tasks=1000000000")
    line = assert_input_error(code, out, err)
    assert line.startswith(
        "truthguard: error: generating 100,000,000,000 synthetic answers (1,000,000,000 tasks, 100 workers) "
        "needs about 7.3 TiB of memory but "
    )
    assert line.endswith("is available; lower n_tasks, n_workers, answers_per_task or density")


def test_synthetic_estimate_counts_density(monkeypatch: pytest.MonkeyPatch) -> None:
    _shrink_memory(monkeypatch, 10_000_000)  # 10 MB: room for 125,000 answers at 80 bytes each
    datasets.make_synthetic(n_tasks=1000, n_workers=100, density=0.5)  # 50,000 expected answers
    with pytest.raises(ResourceError, match=r"generating 200,000 synthetic answers .* needs about 15\.3 MiB"):
        datasets.make_synthetic(n_tasks=2000, n_workers=100)


# ------------------------------------------------------------------ attacks


def test_attack_that_cannot_fit_is_refused_with_the_option_that_fits(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Malicious workers answering every task of a large file created 444 million answers and were killed."""
    data = datasets.make_synthetic(n_tasks=2000, n_workers=200, answers_per_task=10, seed=0)
    path = tmp_path / "answers.csv"
    data.answers.to_csv(path, index=False)
    # 20,000 honest answers; f = 0.1 adds 22 workers: 44,000 malicious answers when each answers all 2,000 tasks
    # (64,000 answers at 160 bytes: 9.8 MiB), 2,200 with --tasks-per-worker mean (100 each: 3.4 MiB).
    _shrink_memory(monkeypatch, 6 * 2**20)
    code, out, err = run("attack", path, "--bounds", "-100", "100", "--attack", "random", "--target", "mean")
    line = assert_input_error(code, out, err)
    assert line == (
        "truthguard: error: adding 22 malicious workers answering 2,000 tasks each (44,000 malicious answers beside "
        "20,000 honest ones) needs about 9.8 MiB of memory but 6.0 MiB is available; use fewer malicious workers "
        "(fraction or n_malicious; CLI --fraction, --n-malicious) or fewer tasks each (tasks_per_worker='mean'; "
        "CLI --tasks-per-worker mean)"
    )
    code, _, err = run("attack", path, "--bounds", "-100", "100", "--attack", "random", "--target", "mean",
                       "--tasks-per-worker", "mean")  # fmt: skip
    assert code == 0, err


def test_the_optimised_attack_counts_its_own_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    data = datasets.make_synthetic(n_tasks=100, n_workers=20, seed=0)  # 2,000 + 2 x 100 = 2,200 answers
    _shrink_memory(monkeypatch, 500_000)  # the baselines' 352,000 bytes fit, the optimised attack's 704,000 do not
    RandomAttack(ThreatModel(n_malicious=2)).poison(data.answers, data.bounds, random_state=0)
    with pytest.raises(ResourceError, match=r"needs about 687\.5 KiB of memory but 488\.3 KiB is available"):
        OptimizedAttack(ThreatModel(n_malicious=2)).poison(data.answers, data.bounds, Mean(), random_state=0)


# ------------------------------------------------------------------ reading


def test_reading_a_csv_too_large_for_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "answers.csv"
    path.write_text("task,worker,value\n" + "".join(f"{t},w{t % 7},{t}\n" for t in range(20_000)))
    size = path.stat().st_size
    _shrink_memory(monkeypatch, 8 * size - 1)
    with pytest.raises(ResourceError, match=r"reading answers file '.*answers\.csv' \(.* of CSV\) needs about .* "
                       r"read a part of it, or use a machine with more memory"):  # fmt: skip
        read_answers(path)
    _shrink_memory(monkeypatch, 8 * size)
    assert read_answers(path).n_answers == 20_000


# ------------------------------------------------------------------ what is available


def _fake_kernel(root: Path, cgroup: str, files_: dict[str, str], meminfo_kib: int) -> None:
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "meminfo").write_text(f"MemTotal: 99999999 kB\nMemAvailable: {meminfo_kib} kB\n")
    (root / "proc" / "self" / "cgroup").write_text(cgroup)
    for name, text in files_.items():
        (root / "sys" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "sys" / name).write_text(text)


@pytest.mark.parametrize(
    ("cgroup", "files_", "expected"),
    [
        # cgroup v2 with a 4 GiB limit, 1 GiB used: 3 GiB left, below the 8 GiB the system has.
        ("0::/job\n", {"job/memory.max": f"{4 << 30}\n", "job/memory.current": f"{1 << 30}\n"}, 3 << 30),
        # cgroup v2 without a limit: the system's figure.
        ("0::/job\n", {"job/memory.max": "max\n", "job/memory.current": "5\n"}, 8 << 30),
        # cgroup v1, the group's folder not visible (a container): the mount's root, 2 GiB limit, 1 GiB used.
        ("4:memory:/process_api/x\n0::/\n",
         {"memory/memory.limit_in_bytes": f"{2 << 30}\n", "memory/memory.usage_in_bytes": f"{1 << 30}\n"}, 1 << 30),
        # cgroup v1 "unlimited" (a number near 2**63).
        ("4:memory:/\n", {"memory/memory.limit_in_bytes": "9223372036854771712\n",
                          "memory/memory.usage_in_bytes": "1\n"}, 8 << 30),
    ],
    ids=["v2-limit", "v2-max", "v1-root", "v1-unlimited"],
)  # fmt: skip
def test_available_memory_reads_meminfo_and_cgroups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cgroup: str, files_: dict[str, str], expected: int
) -> None:
    _fake_kernel(tmp_path, cgroup, files_, meminfo_kib=8 << 20)
    monkeypatch.setattr(resources, "_PROC", tmp_path / "proc")
    monkeypatch.setattr(resources, "_CGROUP", tmp_path / "sys")
    assert resources.available_memory() == expected


def test_available_memory_on_this_machine_is_plausible() -> None:
    room = resources.available_memory()
    assert room is not None and 2**26 < room < 2**50


def test_format_bytes() -> None:
    assert [resources.format_bytes(n) for n in (512, 1536, 3 * 2**30, 7.3 * 2**40)] == [
        "512 B", "1.5 KiB", "3.0 GiB", "7.3 TiB",
    ]  # fmt: skip


# ------------------------------------------------------------------ progress


def test_progress_is_off_in_pipes_and_can_be_forced(capsys: pytest.CaptureFixture[str]) -> None:
    assert not progress_enabled()  # pytest's standard error is not a terminal
    try:
        set_progress(True)
        with progress(3, "demo", delay=0) as bar:
            bar.update(3)
    finally:
        set_progress(None)
    assert "demo" in capsys.readouterr().err


def _run_on_a_terminal(argv: list[str], tmp_path: Path) -> tuple[int, str, str]:
    """Run the CLI with standard error on a pseudo-terminal and standard output on a pipe."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "truthguard", *argv], stdout=subprocess.PIPE, stderr=terminal, cwd=tmp_path
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 1 << 16)
        except OSError:  # the terminal closes with the process
            break
        if not chunk:
            break
        chunks.append(chunk)
    out = process.stdout.read() if process.stdout else b""
    process.wait(timeout=300)
    os.close(controller)
    return process.returncode, out.decode(), b"".join(chunks).decode(errors="replace")


ATTACK = ["attack", "--dataset", "synthetic", "--dataset-option", "n_tasks=300", "--attack", "optimized",
          "--attack-param", "steps=40", "--json"]  # fmt: skip


def test_attack_progress_on_a_terminal_and_clean_json_on_stdout(tmp_path: Path) -> None:
    code, out, err = _run_on_a_terminal(ATTACK, tmp_path)
    assert code == 0, err
    frames = [f for f in err.replace("\r\n", "\n").split("\r") if "optimized attack" in f]
    assert frames, err  # the bar: stage, steps done, best objective so far
    assert any("best " in f and "step" in f for f in frames)
    assert json.loads(out)["attack"] == "optimized"  # standard output is the JSON object, untouched


def test_quiet_silences_the_bar(tmp_path: Path) -> None:
    code, _, err = _run_on_a_terminal([*ATTACK, "--quiet"], tmp_path)
    assert code == 0
    assert "optimized attack" not in err


def test_no_bar_in_a_pipe() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "truthguard", *ATTACK], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0
    assert result.stderr == ""


# ------------------------------------------------------------------ downloads


def test_offline_error_is_one_line_without_pooch_chatter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The offline-dataset error was preceded by a stray "Downloading data from …" line."""
    monkeypatch.delenv(files.DATA_ENV, raising=False)
    monkeypatch.setenv(files.CACHE_ENV, str(tmp_path / "cache"))
    dead = "http://127.0.0.1:9/answer.csv"  # port 9 (discard) is closed: the download fails at once
    spec = emotion.FOLDER
    monkeypatch.setattr(
        emotion,
        "FOLDER",
        files.DataFolder(spec.folder, tuple(files.RemoteFile(f.name, f.sha256, (dead,)) for f in spec.files)),
    )
    code, out, err = make_runner(capfd)("aggregate", "--dataset", "emotion")  # file descriptors: pooch's logger too
    assert "could not be downloaded" in assert_input_error(code, out, err)  # one line: no "Downloading data from"
