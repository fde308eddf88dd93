"""Project checks that run with the tests: ruff, mypy, and the README's commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("command", [("check",), ("format", "--check")])
def test_ruff(command: tuple[str, ...]) -> None:
    ruff = shutil.which("ruff") or pytest.fail("ruff is missing: install the test extras")
    result = _run(ruff, *command, "src", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def _bash_lines() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL)
    return [line.split("  #")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command() -> None:
    test_command = next(line for line in _bash_lines() if "pytest" in line and "install" in line)
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_readme_main_job_runs(main_job: tuple[int, str, Path]) -> None:
    """The quick reproduction (conftest runs it once; test_experiments checks its results)."""
    code, out, folder = main_job
    assert code == 0, out
    assert "108 cells, 0 failed" in out and (folder / "results" / "results.parquet").is_file()


def test_readme_python_examples_run(need_dataset) -> None:
    need_dataset("emotion")
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    assert len(blocks) >= 2  # the quickstart and the attack example
    for number, code in enumerate(blocks, 1):
        exec(compile(code, f"README python example {number}", "exec"), {})
