"""Reading and writing tables: answers, truth and bounds in, estimates out (CSV or Parquet).

Reading. The format follows the name: ``.parquet`` / ``.pq`` is Parquet, anything else CSV, decompressed by
its last suffix (``.gz``, ``.bz2``, ``.xz``, ``.zip`` holding one file); ``-`` is standard input (CSV or
Parquet, recognised by its content). CSV is parsed strictly: every row must have as many fields as the header
(a row with one more, such as a trailing comma, is an error naming the row, never a silent shift of the
columns), a column name may appear once, and the text must be UTF-8. Ids are labels, not numbers: the
``task`` and ``worker`` columns keep exactly what was written (``007`` stays ``007``, distinct from ``07``),
and a column becomes integers only when every id in it is an integer written without leading zeros or sign
(``7``, ``-3``, ``10``), which then reads and writes back unchanged. Spaces around a field are not part of it.
Every failure is a one-line :class:`~truthguard.errors.InputError`.

Writing (:func:`write_table`). The format follows the name: ``.csv`` (or no suffix, e.g. a device or pipe),
``.csv.gz``, ``.csv.bz2``, ``.csv.xz``, ``.csv.zip`` (compressed, byte-for-byte reproducible), ``.parquet`` or
``.pq``; ``-`` is standard output (CSV). Any other suffix is refused with that list. Files are written
atomically through :func:`truthguard.core.output.open_output`.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import stat
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from truthguard.core.answers import Answers, DuplicatePolicy
from truthguard.core.bounds import Bounds
from truthguard.core.labels import show, unknown_labels
from truthguard.core.output import STANDARD_STREAM, open_output
from truthguard.core.resources import check_memory, format_bytes
from truthguard.errors import InputError, OutputError

__all__ = [
    "ID_COLUMNS",
    "OUTPUT_SUFFIXES",
    "read_answers",
    "read_bounds",
    "read_table",
    "read_targets",
    "read_truth",
    "task_values_from_frame",
    "truth_from_frame",
    "write_table",
]

#: Columns holding ids: read exactly as written (see the module's description).
ID_COLUMNS = ("task", "worker")

_PARQUET_SUFFIXES = (".parquet", ".pq")
_COMPRESSIONS: dict[str, Literal["gzip", "bz2", "xz", "zip"]] = {
    ".gz": "gzip",
    ".bz2": "bz2",
    ".xz": "xz",
    ".zip": "zip",
}
#: Every name ending :func:`write_table` accepts (and no suffix at all, which is CSV).
OUTPUT_SUFFIXES = (".csv", *(f".csv{c}" for c in _COMPRESSIONS), *_PARQUET_SUFFIXES)
# An integer id as a person writes one: no leading zeros, no plus sign, at most 19 digits (int64).
_PLAIN_INTEGER = r"^(0|-?[1-9][0-9]{0,18})$"
_PARQUET_MAGIC = b"PAR1"
#: Peak memory of reading and coding CSV answers, per byte of file (measured: 1.6 GB for a 211 MB file of
#: 10 million answers; rounded up).
CSV_BYTES_PER_BYTE = 8

Opener = Callable[[], IO[bytes]]


def _suffixes(path: str) -> tuple[str, str | None]:
    """``(format suffix, compression)`` of a name: ``x.csv.gz`` -> ``(".csv", "gzip")``."""
    name = Path(path).name.lower()
    stem, dot, last = name.rpartition(".")
    compression = _COMPRESSIONS.get(f".{last}") if dot else None
    if compression is not None:
        name = stem
    stem, dot, last = name.rpartition(".")
    return (f".{last}" if dot and stem else ""), compression


# ------------------------------------------------------------------ reading


def read_table(path: str | os.PathLike[str], what: str = "table") -> pd.DataFrame:
    """Read a CSV or Parquet table (see the module's description for formats, ids and errors).

    Args:
        path: A file, or ``-`` for standard input.
        what: How messages name the table (``"answers"``, ``"truth"``…).
    """
    if str(path) == STANDARD_STREAM:
        shown = "standard input"
        data = sys.stdin.buffer.read() if sys.stdin is not None else b""
        is_parquet, compression = data.startswith(_PARQUET_MAGIC), None
        opener: Opener = lambda: io.BytesIO(data)  # noqa: E731
        source = f"{what} from {shown}"
    else:
        file = Path(path)
        shown = repr(str(path))
        source = f"{what} file {shown}"
        if not file.exists():
            raise InputError(f"{source} does not exist; check the path")
        if file.is_dir():
            raise InputError(f"{what} path {shown} is a directory; give a CSV or Parquet file")
        suffix, compression = _suffixes(str(path))
        is_parquet = suffix in _PARQUET_SUFFIXES and compression is None
        if not is_parquet and compression is None and file.is_file():
            size = file.stat().st_size
            check_memory(
                CSV_BYTES_PER_BYTE * size,
                f"reading {source} ({format_bytes(size)} of CSV)",
                "read a part of it, or use a machine with more memory",
            )
        opener = _opener(file)
    try:
        frame = _read_parquet(opener, source) if is_parquet else _read_csv(opener, compression, source)
    except InputError:
        raise
    except UnicodeDecodeError:
        raise _not_utf8(source) from None
    except pa.ArrowInvalid as error:
        if "Empty CSV file" in str(error):
            raise InputError(f"{source} is empty; it needs a header row and data rows") from None
        if "invalid UTF8" in str(error):
            raise _not_utf8(source) from None
        raise _unreadable(source, error) from None
    except (pa.ArrowException, ValueError, EOFError, OSError, zipfile.BadZipFile, lzma.LZMAError) as error:
        raise _unreadable(source, error) from None
    if len(frame.columns) == 0:
        raise InputError(f"{source} is empty; it needs a header row and data rows")
    return frame


def _unreadable(source: str, error: BaseException) -> InputError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return InputError(f"cannot read {source} ({reason}); give a valid CSV or Parquet file")


def _opener(file: Path) -> Opener:
    """Re-openable binary stream of a file; pipes and devices are read once, into memory."""
    if stat.S_ISREG(file.stat().st_mode):
        return lambda: file.open("rb")
    with file.open("rb") as stream:
        data = stream.read()
    return lambda: io.BytesIO(data)


@contextlib.contextmanager
def _decompressed(opener: Opener, compression: str | None, source: str) -> Iterator[IO[bytes]]:
    with opener() as raw:
        if compression is None:
            yield raw
        elif compression == "gzip":
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                yield stream  # type: ignore[misc]
        elif compression == "bz2":
            with bz2.BZ2File(raw, "rb") as stream:
                yield stream
        elif compression == "xz":
            with lzma.LZMAFile(raw, "rb") as stream:
                yield stream
        else:
            with zipfile.ZipFile(raw) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) != 1:
                    raise InputError(f"{source} holds {len(members)} files; give a zip archive of exactly one CSV file")
                with archive.open(members[0]) as stream:
                    yield stream


def _read_parquet(opener: Opener, source: str) -> pd.DataFrame:
    with opener() as stream:
        table = pq.ParquetFile(stream).read()
    _refuse_repeated(table.column_names, source)  # Parquet allows repeated names; pandas then fails obscurely
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _refuse_repeated(names: list[str], source: str) -> None:
    stripped = [name.strip() for name in names]
    repeated = sorted({n for n in stripped if n and stripped.count(n) > 1})
    if repeated:
        raise InputError(f"{source} has more than one column named {repeated[0]!r}; keep one")


_UTF16_32_MARKS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


def _read_csv(opener: Opener, compression: str | None, source: str) -> pd.DataFrame:
    with _decompressed(opener, compression, source) as stream:
        if stream.read(4).startswith(_UTF16_32_MARKS):
            raise InputError(f"{source} is UTF-16 or UTF-32 text; save it as UTF-8")
    header_only = pacsv.ParseOptions(invalid_row_handler=lambda row: "skip")  # rows are checked below
    with (
        _callback_errors(source),
        _decompressed(opener, compression, source) as stream,
        pacsv.open_csv(stream, parse_options=header_only) as reader,
    ):
        names = reader.schema.names  # the header as the full parse will see it
    _refuse_repeated(names, source)
    ids = {name: pa.string() for name in names if name.strip() in ID_COLUMNS}
    rejected: list[pacsv.InvalidRow] = []

    def reject(row: pacsv.InvalidRow) -> str:
        rejected.append(row)
        return "skip"

    def parse(use_threads: bool) -> pa.Table:
        with _callback_errors(source), _decompressed(opener, compression, source) as stream:
            return pacsv.read_csv(
                stream,
                read_options=pacsv.ReadOptions(use_threads=use_threads),
                parse_options=pacsv.ParseOptions(invalid_row_handler=reject),
                convert_options=pacsv.ConvertOptions(column_types=ids),
            )

    table = parse(use_threads=True)
    if rejected:
        rejected.clear()
        parse(use_threads=False)  # only a single-threaded parse numbers the rows
        raise _ragged(source, names, rejected[0])
    for name, column_type in zip(table.column_names, table.schema.types, strict=True):
        if pa.types.is_binary(column_type) or pa.types.is_large_binary(column_type):
            raise _not_utf8(source, name.strip())
    columns = [_id_column(table.column(i)) if name in ids else table.column(i) for i, name in enumerate(names)]
    frame: pd.DataFrame = pa.table(columns, names=[name.strip() for name in names]).to_pandas()
    return frame


@contextlib.contextmanager
def _callback_errors(source: str) -> Iterator[None]:
    """Catch what goes wrong around pyarrow's invalid-row callback, which Python would print as "Exception
    ignored in ..." with a traceback: pyarrow decodes a bad row as UTF-8 before calling it, and fails there
    when the row is not UTF-8 (the parse then fails or skips the row)."""
    caught: list[BaseException | None] = []
    failure: Exception | None = None
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: caught.append(unraisable.exc_value)
    try:
        yield
    except Exception as error:
        failure = error
    finally:
        sys.unraisablehook = previous
    if any(isinstance(problem, UnicodeDecodeError) for problem in caught):
        raise _not_utf8(source) from None
    for problem in [failure, *caught]:
        if problem is not None:
            raise problem


def _not_utf8(source: str, column: str | None = None) -> InputError:
    where = f" (column {column!r})" if column is not None else ""
    return InputError(f"{source} is not UTF-8 text{where}; save it as UTF-8")


def _ragged(source: str, names: list[str], row: pacsv.InvalidRow) -> InputError:
    text = row.text if len(row.text) <= 60 else row.text[:57] + "..."
    where = f"row {row.number - 1}" if row.number is not None else "a row"
    header = ", ".join(name.strip() for name in names)
    if row.actual_columns > row.expected_columns and row.text.rstrip().endswith(","):
        fix = "remove the trailing comma"
    else:
        fix = "give every row one field per header column (quote fields that contain commas)"
    return InputError(
        f"{source} {where} has {row.actual_columns} field(s) but the header has {row.expected_columns} "
        f"({header}): {text!r}; {fix}"
    )


def _id_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Ids as written, without surrounding spaces; empty ones missing; integers when all are plain integers.

    Each test runs on the distinct ids (far fewer than the rows), and the whole column is touched only when
    something must change.
    """
    distinct = pc.unique(column)
    trimmed = pc.utf8_trim_whitespace(distinct)
    if not pc.all(pc.equal(trimmed, distinct)).as_py():
        column, distinct = pc.utf8_trim_whitespace(column), pc.unique(trimmed)
    if pc.any(pc.equal(distinct, "")).as_py():  # a missing id: left to the table's own check to report
        return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
    if len(distinct) > 0 and pc.all(pc.match_substring_regex(distinct, _PLAIN_INTEGER)).as_py():
        return pc.cast(column, pa.int64())
    return column


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


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write ``frame`` without its index, in the format its name asks for, atomically.

    See the module's description for the formats; ``-`` writes CSV to standard output. Compressed files are
    reproducible byte for byte (no time stamps inside). Parquet needs one type per column: an id column mixing
    numbers and text is written as text.

    Raises:
        OutputError: Unknown suffix, or the file cannot be written (see :func:`~truthguard.core.output.open_output`).
    """
    suffix, compression = ("", None) if str(path) == STANDARD_STREAM else _suffixes(str(path))
    if suffix in _PARQUET_SUFFIXES and compression is None:
        with open_output(path) as stream:
            _write_parquet(frame, stream, str(path))
        return
    if suffix not in ("", ".csv"):
        shown = suffix + ("." + Path(str(path)).name.rsplit(".", 1)[-1] if compression else "")
        raise OutputError(
            f"cannot write {str(path)!r}: unknown file type {shown!r}; use one of {', '.join(OUTPUT_SUFFIXES)} "
            "(or - for standard output)"
        )
    with open_output(path) as stream, _compressed(stream, compression, Path(str(path)).name) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        frame.to_csv(text, index=False, lineterminator="\n")
        text.flush()
        text.detach()  # the binary stream is closed by its owner, after the compressor's trailer


@contextlib.contextmanager
def _compressed(stream: BinaryIO, compression: str | None, name: str) -> Iterator[BinaryIO]:
    if compression is None:
        yield stream
    elif compression == "gzip":
        with gzip.GzipFile(fileobj=stream, mode="wb", mtime=0, filename="") as packed:
            yield packed  # type: ignore[misc]
    elif compression == "bz2":
        with bz2.BZ2File(stream, "wb") as packed:
            yield packed  # type: ignore[misc]
    elif compression == "xz":
        with lzma.LZMAFile(stream, "wb") as packed:
            yield packed  # type: ignore[misc]
    else:
        member = name[: -len(".zip")] if name.lower().endswith(".zip") else name
        entry = zipfile.ZipInfo(member if member.lower().endswith(".csv") else f"{member}.csv", (1980, 1, 1, 0, 0, 0))
        entry.compress_type = zipfile.ZIP_DEFLATED
        with zipfile.ZipFile(stream, "w") as archive, archive.open(entry, "w") as packed:
            yield packed  # type: ignore[misc]


def _write_parquet(frame: pd.DataFrame, stream: BinaryIO, path: str) -> None:
    mixed = [
        name
        for name in frame.columns
        if frame[name].dtype == object and len({type(v) for v in frame[name].dropna()}) > 1
    ]
    if mixed:  # Parquet needs one type per column; as text, every value still reads as it was written
        frame = frame.assign(**{str(name): frame[name].map(lambda v: v if v is None else str(v)) for name in mixed})
    try:
        frame.to_parquet(stream, index=False)
    except (pa.ArrowException, ValueError, TypeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise OutputError(f"cannot write {path!r} as Parquet ({reason}); write CSV instead") from None
