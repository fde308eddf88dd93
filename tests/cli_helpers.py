"""Helpers shared by the command-line tests (imported as ``cli_helpers``: pytest puts tests/ on the path)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
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


def page_sources(html_text: str) -> list[str]:
    """Every ``src`` and ``href`` of an HTML page (to check that a report embeds its figures)."""
    from html.parser import HTMLParser

    class Sources(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.found += [v or "" for k, v in attrs if k in ("src", "href")]

    parser = Sources()
    parser.feed(html_text)
    return parser.found


def assert_input_error(code: int, out: str, err: str, prefix: str = "truthguard: error:") -> str:
    """Exit status 2, exactly one stderr line starting with ``prefix``, no traceback; returns that line."""
    assert code == 2, (code, out, err)
    assert "Traceback" not in err + out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prefix), err
    return lines[0]


def run_unprivileged(*argv: str | Path) -> tuple[int, str, str]:
    """``main(argv)`` as an ordinary user (uid/gid 65534), for permission checks that root would bypass.

    Run as root (as CI does), the test process forks and the child drops its privileges before calling
    ``main`` in-process: the interpreter lives under /root, which an ordinary user could not even start, but
    the modules are loaded already. Run as an ordinary user, ``main`` simply runs here.
    """
    if os.geteuid() != 0:
        return _call_main([str(a) for a in argv])
    readable, writable = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and never returns
        os.close(readable)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            payload = list(_call_main([str(a) for a in argv]))
        except BaseException as error:  # reported to the parent, which fails the test
            payload = [99, "", f"child failed: {error!r}"]
        os.write(writable, json.dumps(payload).encode())
        os._exit(0)
    os.close(writable)
    chunks = []
    while chunk := os.read(readable, 1 << 16):
        chunks.append(chunk)
    os.close(readable)
    os.waitpid(child, 0)
    code, out, err = json.loads(b"".join(chunks))
    return int(code), str(out), str(err)


def _call_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def world_writable_dir() -> Path:
    """A fresh directory an ordinary user can use (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="truthguard-test-"))
    folder.chmod(0o777)
    return folder
