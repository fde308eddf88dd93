"""Writing files so that a result appears whole or not at all, and nothing else is damaged.

Every file TruthGuard writes (estimates, poisoned answers, downloaded datasets, and the reports and result
tables to come) goes through :func:`open_output`:

* a regular file, new or existing, is written to a hidden temporary file in the same directory
  (``.NAME.XXXX.tmp``), flushed to disk, given the mode the old file had (a new one: 0666 less the umask) and
  renamed over the name. Readers see the old content or the new one, never a mix; a failed or interrupted
  write (an exception, Ctrl-C, and SIGTERM or SIGHUP under the command line) leaves the old file as it was and
  removes the temporary file;
* a symbolic link is followed: the file it points to is replaced that way, next to it, and the link stays;
* a device or named pipe (``/dev/null``, ``/dev/full``, a FIFO) is written in place, never renamed over;
* ``-`` is standard output;
* a missing directory, a directory or read-only file in the way, a permission refused, a full disk or a
  closed standard output is an :class:`~truthguard.errors.OutputError`: one line naming the destination, the
  reason and a fix.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from truthguard.errors import OutputError, TruthGuardError

__all__ = ["STANDARD_STREAM", "json_values", "open_output"]

#: The file name meaning standard output when writing (and standard input when reading).
STANDARD_STREAM = "-"

_FIXES = {
    errno.EACCES: "check its permissions or choose another location",
    errno.EPERM: "check its permissions or choose another location",
    errno.EROFS: "the file system is read-only; choose another location",
    errno.ENOSPC: "free some space or choose another location",
    errno.EDQUOT: "free some space or choose another location",
    errno.EFBIG: "choose a location that takes larger files",
    errno.ENAMETOOLONG: "choose a shorter name",
}


def _error(shown: str, error: OSError, what: str | None = None) -> OutputError:
    reason = error.strerror or str(error) or type(error).__name__
    fix = _FIXES.get(error.errno or 0, "check the path and try again")
    return OutputError(f"cannot write {shown} ({what + ': ' if what else ''}{reason}); {fix}")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def open_output(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary stream to ``path`` whose content appears only when the block ends without an error.

    See the module's description for the rules (regular files, links, devices and pipes, ``-``). Errors
    while opening, writing or renaming raise :class:`~truthguard.errors.OutputError`; an exception raised by
    the block itself propagates unchanged, after the temporary file is removed.
    """
    if str(path) == STANDARD_STREAM:
        with _standard_output() as stream:
            yield stream
        return
    target = Path(path)
    shown = repr(str(path))
    try:
        info: os.stat_result | None = target.stat()  # follows links: what a link points to decides
    except FileNotFoundError:
        info = None
    except NotADirectoryError:
        raise OutputError(f"cannot write {shown}: a part of its directory path is a file; fix the path") from None
    except OSError as error:
        raise _error(shown, error) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(f"cannot write {shown}: it is a directory; give a file name")
    if info is not None and not stat.S_ISREG(info.st_mode):
        with _in_place(target, shown) as stream:
            yield stream
        return
    final = Path(os.path.realpath(target))  # the file a symbolic link points to (existing or not)
    if not final.parent.is_dir():
        raise OutputError(f"cannot write {shown}: directory {str(final.parent)!r} does not exist; create it")
    if info is not None and not os.access(final, os.W_OK):
        raise OutputError(f"cannot write {shown}: the file is read-only; make it writable or choose another name")
    mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask()
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    except OSError as error:
        raise _error(shown, error, f"cannot create a file in {str(final.parent)!r}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).chmod(mode)
        Path(temporary).replace(final)
    except BaseException as error:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        if isinstance(error, OSError) and not isinstance(error, TruthGuardError):
            raise _error(shown, error) from None
        raise


@contextlib.contextmanager
def _in_place(target: Path, shown: str) -> Iterator[BinaryIO]:
    """Devices and pipes: written directly (a FIFO waits for its reader, as ``cat > fifo`` does)."""
    try:
        stream = target.open("wb")
    except OSError as error:
        raise _error(shown, error) from None
    try:
        with stream:
            yield stream
    except OSError as error:
        if isinstance(error, TruthGuardError):
            raise
        raise _error(shown, error) from None


@contextlib.contextmanager
def _standard_output() -> Iterator[BinaryIO]:
    if sys.stdout is None:  # started with standard output closed (`>&-`)
        raise OutputError("cannot write to standard output: it is closed; open it, or write the results with -o FILE")
    try:
        sys.stdout.flush()  # whatever was printed before comes first
        binary = getattr(sys.stdout, "buffer", None)
        if binary is not None:
            yield binary
            binary.flush()
        else:  # a text-only stand-in (e.g. io.StringIO): collect the bytes, then write them as text
            collected = io.BytesIO()
            yield collected
            sys.stdout.write(collected.getvalue().decode("utf-8"))
            sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader went away (e.g. `| head`): not an error of ours
    except OSError as error:
        if isinstance(error, TruthGuardError):
            raise
        raise _error("to standard output", error) from None


def json_values(value: Any) -> Any:
    """``value`` with what JSON cannot hold made plain: NumPy scalars as Python numbers, NaN and infinities as
    None (``null``), keys as text, tuples as lists, recursively (for ``json.dumps``: strict JSON out)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_values(v) for v in value]
    return value
