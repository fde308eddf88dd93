"""Helpers shared by the command-line tests (imported as ``cli_helpers``: pytest puts tests/ on the path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from truthguard.cli.main import main

Run = Callable[..., tuple[int, str, str]]


def make_runner(capsys: pytest.CaptureFixture[str]) -> Run:
    """``run(*argv)`` -> (exit status, stdout, stderr) of ``main(argv)``; argparse exits become the status."""

    def call(*argv: str | Path) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return call


def assert_input_error(code: int, out: str, err: str, prefix: str = "truthguard: error:") -> str:
    """Exit status 2, exactly one stderr line starting with ``prefix``, no traceback; returns that line."""
    assert code == 2, (code, out, err)
    assert "Traceback" not in err + out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), err
    return lines[0]
