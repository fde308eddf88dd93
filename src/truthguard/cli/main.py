"""The ``truthguard`` command: parse, call the library, format.

Exit status: 0 success; 2 bad input, an output that cannot be written, or a run that cannot fit (one line
``truthguard: error: <problem>; <fix>`` on standard error); 130 / 143 / 129 when interrupted by SIGINT /
SIGTERM / SIGHUP (files being written are removed, the previous ones kept); 1 for a bug, reported in one line
(``TRUTHGUARD_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

from truthguard import __version__
from truthguard.cli import aggregate, attack, audit, datasets, detect, methods, plot, reproduce, run
from truthguard.cli.common import Parser, echo, warning_line
from truthguard.core.progress import set_progress
from truthguard.errors import TruthGuardError, TruthGuardWarning

EXAMPLES = """\
examples:
  truthguard aggregate --dataset synthetic --method crh
  truthguard aggregate answers.csv --method gtm --truth truth.csv -o estimates.csv --json
  truthguard attack --dataset emotion --attack optimized --target crh --fraction 0.1
  truthguard audit answers.csv --bounds 0 100 --method crh -o audit/
  truthguard datasets list
  truthguard methods

Every command takes --help. Input problems print one line and exit with status 2.
"""

DEBUG_ENV = "TRUTHGUARD_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="truthguard",
        description="Aggregate crowdsourced numeric answers robustly, and audit how far malicious workers "
        "could move the estimates.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"truthguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for module in (aggregate, attack, detect, audit, run, reproduce, plot, datasets, methods):
        module.add_parser(commands)
    return parser


class _Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the program is so that files being written are cleaned up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated(signum)


@contextlib.contextmanager
def _terminations_as_exceptions() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception for the duration (like SIGINT's KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():  # signals can only be set from there
        yield
        return
    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    # A signal set to be ignored stays ignored: under nohup a hang-up must not stop the run.
    wanted = [signum for signum in wanted if signal.getsignal(signum) is not signal.SIG_IGN]
    previous = {signum: signal.signal(signum, _raise_terminated) for signum in wanted}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    # Warnings about results reach the user as one line; other libraries' warnings are not theirs to act on.
    if issubclass(category, TruthGuardWarning):
        echo(warning_line(message), to_stderr=True)


def _settle_stdout() -> None:
    """Flush standard output now; if that fails, point it at /dev/null so that Python's exit-time flush does not
    print an "Exception ignored" message after our one-line error."""
    if sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad input; see the module)."""
    args = build_parser().parse_args(argv)
    set_progress(False if getattr(args, "quiet", False) else None)
    with _terminations_as_exceptions(), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's: the library checks its results instead
        warnings.simplefilter("always", TruthGuardWarning)
        warnings.showwarning = _show_warning
        status = _run(args)
    set_progress(None)
    _settle_stdout()
    return status


def _run(args: argparse.Namespace) -> int:
    try:
        status: int = args.run(args)
        return status
    except TruthGuardError as error:
        print(f"truthguard: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into head: nothing left to say
        return 0
    except MemoryError:
        print(
            "truthguard: error: out of memory; use a smaller input (fewer tasks, workers or malicious workers)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("truthguard: interrupted", file=sys.stderr)
        return 130
    except _Terminated as stop:
        print(f"truthguard: terminated by {signal.Signals(stop.signum).name}", file=sys.stderr)
        return 128 + stop.signum
    except Exception as error:
        if os.environ.get(DEBUG_ENV):
            raise
        reason = str(error).splitlines()[0] if str(error) else ""
        print(
            f"truthguard: internal error: {type(error).__name__}{': ' + reason if reason else ''}; this is a bug, "
            f"please report it (set {DEBUG_ENV}=1 to see where it happened)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
