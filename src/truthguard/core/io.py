"""Reading and writing tables: answers, truth and bounds in, estimates out (CSV or Parquet).

Every read turns the usual failures (no such file, empty file, unparsable text, wrong columns) into one-line
:class:`~truthguard.errors.InputError` messages, and every write is atomic: the file appears complete or not at
all, never half-written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from truthguard.core.answers import Answers, DuplicatePolicy
from truthguard.core.bounds import Bounds
from truthguard.core.labels import show, unknown_labels
from truthguard.errors import InputError

__all__ = [
    "read_answers",
    "read_bounds",
    "read_table",
    "read_targets",
    "read_truth",
    "task_values_from_frame",
    "truth_from_frame",
    "write_table",
]

_PARQUET_SUFFIXES = (".parquet", ".pq")


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in _PARQUET_SUFFIXES


def read_table(path: str | os.PathLike[str], what: str = "table") -> pd.DataFrame:
    """Read a CSV (any other suffix, compressed too) or Parquet (``.parquet``, ``.pq``) file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} file {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise InputError(f"{what} path {str(path)!r} is a directory; give a CSV or Parquet file")
    try:
        if _is_parquet(path):
            return pd.read_parquet(path)
        return pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{what} file {str(path)!r} is empty; it needs a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(
            f"cannot read {what} file {str(path)!r} ({reason}); give a valid CSV or Parquet file"
        ) from None


def read_answers(path: str | os.PathLike[str], *, on_duplicate: DuplicatePolicy = "error") -> Answers:
    """Read and validate an answer table with columns ``task``, ``worker``, ``value`` (or ``label``)."""
    return Answers.from_frame(read_table(path, "answers"), on_duplicate=on_duplicate)


def read_truth(path: str | os.PathLike[str], tasks: pd.Index | None = None) -> pd.Series:
    """Read ground truth (columns ``task``, ``truth``) as a Series indexed by task.

    Args:
        path: CSV or Parquet file.
        tasks: When given (e.g. ``answers.tasks``), every task in the truth must be one of them.
    """
    return truth_from_frame(read_table(path, "truth"), tasks, source=f"truth file {str(path)!r}")


def read_targets(path: str | os.PathLike[str], tasks: pd.Index | None = None) -> pd.Series:
    """Read an attacker's target values (columns ``task``, ``target``) as a Series indexed by task."""
    frame = read_table(path, "targets")
    return task_values_from_frame(frame, "target", tasks, source=f"targets file {str(path)!r}")


def truth_from_frame(frame: pd.DataFrame, tasks: pd.Index | None = None, source: str = "truth") -> pd.Series:
    """Validate a ``task``, ``truth`` table and return it as a Series indexed by task."""
    return task_values_from_frame(frame, "truth", tasks, source)


def task_values_from_frame(
    frame: pd.DataFrame, column: str, tasks: pd.Index | None = None, source: str = "table"
) -> pd.Series:
    """Validate a table of one finite number per task (columns ``task`` and ``column``) into a Series.

    Args:
        frame: The table.
        column: The value column's name (``truth``, ``target``…); also the Series' name.
        tasks: When given (e.g. ``answers.tasks``), every task in the table must be one of them.
        source: How messages name the table.
    """
    missing = [c for c in ("task", column) if c not in frame.columns]
    if missing:
        raise InputError(f"{source} is missing column(s) {', '.join(missing)}; give columns task, {column}")
    if len(frame) == 0:
        raise InputError(f"{source} has no rows; give at least one task, {column} pair")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{source} has a missing, non-numeric or infinite {column} at row {row + 1} "
            f"(task {show(frame['task'].iloc[row])}); give finite numbers"
        )
    if frame["task"].duplicated().any():
        task = frame.loc[frame["task"].duplicated(), "task"].iloc[0]
        raise InputError(f"{source} gives task {show(task)} more than once; keep one row per task")
    series = pd.Series(values, index=pd.Index(frame["task"], name="task"), name=column)
    if tasks is not None:
        unknown = unknown_labels(pd.Index(series.index), tasks)
        if len(unknown):
            raise InputError(
                f"{source} names {len(unknown)} task(s) that have no answers, e.g. {show(unknown[0])}; "
                "remove them or check that the task ids match the answers"
            )
    return series


def read_bounds(path: str | os.PathLike[str]) -> Bounds:
    """Read per-task bounds (columns ``task``, ``low``, ``high``)."""
    return Bounds.from_frame(read_table(path, "bounds"))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` as CSV or Parquet (by suffix) atomically: a temporary file renamed into place."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"cannot write {str(path)!r}: directory {str(path.parent)!r} does not exist; create it")
    if path.is_dir():
        raise InputError(f"cannot write {str(path)!r}: it is a directory; give a file name")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    # mkstemp creates the file private (0600); give it the mode a plain open() would have given.
    Path(temporary).chmod(path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
    try:
        if _is_parquet(path):
            frame.to_parquet(temporary, index=False)
        else:
            frame.to_csv(temporary, index=False)
        Path(temporary).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise
