"""The answer table: who said what about which task, validated and integer-coded.

Users hand TruthGuard a long table with one row per answer (crowd-kit's layout): ``task``, ``worker`` and
``value`` (``label`` is accepted as an alias). :class:`Answers` checks it once and keeps it as three flat arrays
(task code, worker code, value) sorted by task then worker, plus the original task and worker labels. That is a
sparse task × worker matrix in coordinate form: every aggregator works on it in O(number of answers) per
iteration, and sorting makes every result independent of the input's row order, bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.core.labels import merged_codes, show
from truthguard.errors import InputError

__all__ = ["DUPLICATE_POLICIES", "Answers", "DuplicatePolicy", "value_column"]

DuplicatePolicy = Literal["error", "mean", "last"]
#: How repeated (task, worker) pairs are handled: refuse them, average them, or keep the last one given.
DUPLICATE_POLICIES: tuple[DuplicatePolicy, ...] = ("error", "mean", "last")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Answers:
    """Validated answers as flat, integer-coded arrays sorted by (task, worker).

    Build one with :meth:`from_frame` (or :meth:`coerce`); aggregators accept either an ``Answers`` or the raw
    DataFrame, so converting once pays off only when the same answers are aggregated many times.

    Attributes:
        tasks: Task labels; ``tasks[c]`` is the task whose code is ``c``. Sorted when the labels are sortable.
        workers: Worker labels, likewise.
        task: Task code of each answer (int64), non-decreasing.
        worker: Worker code of each answer (int64), increasing within a task.
        value: The answered value (float64, finite).
        gold: Per task code, the task's known value (NaN where it is not a gold task), or None when no task
            is gold; set by :meth:`with_gold` (see :mod:`truthguard.core.gold`).

    Examples:
        >>> import pandas as pd
        >>> from truthguard import Answers
        >>> df = pd.DataFrame({"task": ["t1", "t1", "t2"], "worker": ["w1", "w2", "w1"], "value": [1.0, 3.0, 5.0]})
        >>> answers = Answers.from_frame(df)
        >>> answers.n_tasks, answers.n_workers, answers.n_answers
        (2, 2, 3)
    """

    tasks: pd.Index
    workers: pd.Index
    task: IntArray
    worker: IntArray
    value: FloatArray
    gold: FloatArray | None = None

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_answers(self) -> int:
        return len(self.value)

    def task_counts(self) -> IntArray:
        """Number of answers per task code (counted once per ``Answers``: a read-only array)."""
        return self._counts("_task_counts", self.task, self.n_tasks)

    def worker_counts(self) -> IntArray:
        """Number of answers per worker code (counted once per ``Answers``: a read-only array)."""
        return self._counts("_worker_counts", self.worker, self.n_workers)

    def _counts(self, name: str, codes: IntArray, n: int) -> IntArray:
        # A fit asks several times (its steps, its checks); a pass over 10^7 codes costs about 20 ms each time.
        counts: IntArray | None = self.__dict__.get(name)
        if counts is None:
            counts = np.bincount(codes, minlength=n).astype(np.int64, copy=False)
            counts.setflags(write=False)
            object.__setattr__(self, name, counts)  # frozen: the codes never change, so neither do their counts
        return counts

    def to_frame(self) -> pd.DataFrame:
        """The answers as a long DataFrame with columns ``task``, ``worker``, ``value``."""
        return pd.DataFrame(
            {
                "task": self.tasks.take(self.task),
                "worker": self.workers.take(self.worker),
                "value": self.value,
            }
        )

    def __repr__(self) -> str:
        return f"Answers(n_tasks={self.n_tasks}, n_workers={self.n_workers}, n_answers={self.n_answers})"

    def with_values(self, value: npt.ArrayLike) -> Answers:
        """The same (task, worker) pairs with other values, given in this object's answer order (no re-sort)."""
        values = np.asarray(value, dtype=np.float64)
        if values.shape != self.value.shape:
            raise InputError(f"expected {self.n_answers} values, got {values.shape[0] if values.ndim else 0}")
        if not np.all(np.isfinite(values)):
            raise InputError("answer values must be finite")
        return Answers(self.tasks, self.workers, self.task, self.worker, values, self.gold)

    def with_gold(self, known: npt.ArrayLike | None) -> Answers:
        """The same answers with known values of some tasks: one per task code, NaN where a task is not gold
        (:func:`truthguard.core.gold.align_gold` builds it from a table), or None for no gold task."""
        if known is None:
            return Answers(self.tasks, self.workers, self.task, self.worker, self.value)
        gold = np.asarray(known, dtype=np.float64)
        if gold.shape != (self.n_tasks,):
            raise InputError(f"expected one known value (or NaN) per task, {self.n_tasks}; got shape {gold.shape}")
        if np.isinf(gold).any():
            raise InputError("known values of gold tasks must be finite")
        return Answers(self.tasks, self.workers, self.task, self.worker, self.value, gold)

    def extended(self, other: Answers) -> Answers:
        """These answers and ``other``'s together, coded as :meth:`from_frame` codes them (labels sorted when
        they can be): the same object as reading all the answers at once. Gold is not carried over.

        Raises:
            InputError: A (task, worker) pair answered in both.
        """
        tasks, task_codes, task_old = _merged_sorted(self.tasks, other.tasks)
        workers, worker_codes, worker_old = _merged_sorted(self.workers, other.workers)
        task, worker = task_codes[other.task], worker_codes[other.worker]
        mine_task, mine_worker = task_old[self.task], worker_old[self.worker]
        width = np.int64(len(workers))
        mine, theirs = mine_task * width + mine_worker, task * width + worker
        # Canonical answers stay sorted through the re-coding (it keeps the labels' order); others are sorted.
        mine_sorted = bool(np.all(mine[1:] > mine[:-1]))
        reference = mine if mine_sorted else np.sort(mine)
        before = np.searchsorted(reference, theirs)
        again = reference[np.minimum(before, len(reference) - 1)] == theirs
        if again.any():
            first = int(np.flatnonzero(again)[0])
            raise InputError(
                f"the new answers repeat {int(again.sum())} (task, worker) pair(s) already answered, e.g. task "
                f"{show(tasks[task[first]])}, worker {show(workers[worker[first]])}; new answers add to the old, "
                "they do not replace them: leave the repeats out"
            )
        if not (mine_sorted and np.all(theirs[1:] > theirs[:-1])):
            return Answers.from_codes(
                tasks,
                workers,
                np.concatenate((mine_task, task)),
                np.concatenate((mine_worker, worker)),
                np.concatenate((self.value, other.value)),
            )
        # Two sorted runs of distinct pairs: merged in one pass (no sort of all the pairs).
        new_at = before + np.arange(len(theirs))
        is_new = np.zeros(len(mine) + len(theirs), dtype=bool)
        is_new[new_at] = True

        def merge(old_part: npt.NDArray[Any], new_part: npt.NDArray[Any]) -> npt.NDArray[Any]:
            column = np.empty(is_new.size, dtype=new_part.dtype)
            column[new_at] = new_part
            column[~is_new] = old_part
            return column

        return Answers(
            tasks, workers, merge(mine_task, task), merge(mine_worker, worker), merge(self.value, other.value)
        )

    def select(self, keep: BoolArray) -> Answers:
        """The answers where ``keep`` is true, with tasks and workers left without answers dropped.

        Order is preserved, so it stays canonical; tasks and workers are re-coded in their current order.
        """
        if not keep.any():
            raise InputError("no answer selected; keep at least one")
        task_used, task = _recode(self.task[keep], self.n_tasks)
        worker_used, worker = _recode(self.worker[keep], self.n_workers)
        gold = None if self.gold is None else self.gold[task_used]
        return Answers(self.tasks.take(task_used), self.workers.take(worker_used), task, worker, self.value[keep], gold)

    # ------------------------------------------------------------------ construction

    @classmethod
    def coerce(cls, data: Answers | pd.DataFrame, *, on_duplicate: DuplicatePolicy = "error") -> Answers:
        """Return ``data`` itself if it is already :class:`Answers`, else validate it with :meth:`from_frame`."""
        if isinstance(data, Answers):
            return data
        return cls.from_frame(data, on_duplicate=on_duplicate)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, on_duplicate: DuplicatePolicy = "error") -> Answers:
        """Validate a long answer table and code it.

        Args:
            frame: One row per answer with columns ``task``, ``worker`` and ``value`` (or ``label``); other
                columns are ignored.
            on_duplicate: What to do when a worker answered a task more than once: ``"error"`` (default),
                ``"mean"`` (average the repeats) or ``"last"`` (keep the last row).

        Raises:
            InputError: Not a DataFrame, missing columns, no rows, missing ids, non-numeric or non-finite
                values, or duplicate (task, worker) pairs under ``on_duplicate="error"``.
        """
        if not isinstance(frame, pd.DataFrame):
            raise InputError(
                f"answers must be a pandas DataFrame with columns task, worker, value; got {type(frame).__name__}"
            )
        value_name = value_column(frame)
        if len(frame) == 0:
            raise InputError("answers are empty: the table has no rows; give at least one (task, worker, value)")
        _check_policy(on_duplicate)
        task_col, worker_col = frame["task"], frame["worker"]
        for name, column in (("task", task_col), ("worker", worker_col)):
            missing = column.isna().to_numpy()
            if missing.any():
                row = int(np.flatnonzero(missing)[0])
                raise InputError(f"answers have a missing {name} id at row {row + 1}; fill or drop that row")
        values = _numeric_values(frame[value_name], value_name, task_col, worker_col)
        task_codes, tasks = _factorize(task_col)
        worker_codes, workers = _factorize(worker_col)

        def describe(position: int) -> str:
            return (
                f"row {position + 1} (task {show(task_col.iloc[position])}, worker {show(worker_col.iloc[position])})"
            )

        return cls._canonical(tasks, workers, task_codes, worker_codes, values, on_duplicate, describe)

    @classmethod
    def from_codes(
        cls,
        tasks: pd.Index,
        workers: pd.Index,
        task: npt.ArrayLike,
        worker: npt.ArrayLike,
        value: npt.ArrayLike,
        *,
        on_duplicate: DuplicatePolicy = "error",
    ) -> Answers:
        """Build answers from integer codes into given label indexes (used when adding workers or answers).

        Codes are checked against the label indexes and values for finiteness; duplicates follow
        ``on_duplicate`` as in :meth:`from_frame`.
        """
        _check_policy(on_duplicate)
        try:
            raw_codes = np.asarray(task), np.asarray(worker)
            values = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("answer values must be numbers") from None
        for name, codes in zip(("task", "worker"), raw_codes, strict=True):
            if codes.size and not np.issubdtype(codes.dtype, np.integer):
                raise InputError(f"{name} codes must be integers; got dtype {codes.dtype}")
        task_codes, worker_codes = (codes.astype(np.int64) for codes in raw_codes)
        if not task_codes.shape == worker_codes.shape == values.shape or task_codes.ndim != 1:
            raise InputError("task, worker and value codes must be 1-D arrays of the same length")
        if len(values) == 0:
            raise InputError("answers are empty: no (task, worker, value) given")
        for name, codes, labels in (("task", task_codes, tasks), ("worker", worker_codes, workers)):
            if codes.min() < 0 or codes.max() >= len(labels):
                raise InputError(f"{name} codes must lie in [0, {len(labels)}); got {codes.min()}..{codes.max()}")
        bad = ~np.isfinite(values)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise InputError(f"answer {position + 1} has a non-finite value {values[position]}; use finite numbers")

        def describe(position: int) -> str:
            task_label, worker_label = tasks[task_codes[position]], workers[worker_codes[position]]
            return f"answer {position + 1} (task {show(task_label)}, worker {show(worker_label)})"

        return cls._canonical(
            pd.Index(tasks), pd.Index(workers), task_codes, worker_codes, values, on_duplicate, describe
        )

    @classmethod
    def _canonical(
        cls,
        tasks: pd.Index,
        workers: pd.Index,
        task: IntArray,
        worker: IntArray,
        value: FloatArray,
        on_duplicate: DuplicatePolicy,
        describe: Callable[[int], str],
    ) -> Answers:
        pair = task * np.int64(max(len(workers), 1)) + worker
        # A stable sort keeps equal pairs in input order, which is what "last" needs.
        order = np.argsort(pair, kind="stable")
        pair_sorted = pair[order]
        repeat = pair_sorted[1:] == pair_sorted[:-1]
        if repeat.any():
            if on_duplicate == "error":
                first = int(order[int(np.flatnonzero(repeat)[0]) + 1])
                raise InputError(
                    f"answers repeat a (task, worker) pair {int(repeat.sum())} time(s), first at {describe(first)}; "
                    "remove the repeats or choose how to merge them (on_duplicate='mean' or 'last', "
                    "CLI --on-duplicate mean|last)"
                )
            starts = np.flatnonzero(np.concatenate(([True], ~repeat)))
            if on_duplicate == "mean":
                group = np.cumsum(np.concatenate(([True], ~repeat))) - 1
                merged = np.bincount(group, weights=value[order]) / np.bincount(group)
                keep = order[starts]
                return cls(tasks, workers, task[keep], worker[keep], merged)
            ends = np.concatenate((starts[1:], [len(order)])) - 1
            keep = order[ends]
            return cls(tasks, workers, task[keep], worker[keep], value[keep])
        return cls(tasks, workers, task[order], worker[order], value[order])


def _check_policy(on_duplicate: str) -> None:
    if on_duplicate not in DUPLICATE_POLICIES:
        raise InputError(f"unknown on_duplicate {on_duplicate!r}; choose one of {', '.join(DUPLICATE_POLICIES)}")


def value_column(frame: pd.DataFrame) -> str:
    """The name of the value column of an answer table (``value``, or its alias ``label``), after checking that
    ``task`` and ``worker`` are there too: only the columns are read, so an empty frame of the same columns
    (a Dask frame's ``_meta``) is checked the same way."""
    names = [str(c) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1} & {"task", "worker", "value", "label"})
    if repeated:
        raise InputError(f"answers have more than one column named {repeated[0]!r}; keep one")
    columns = set(names)
    missing = [name for name in ("task", "worker") if name not in columns]
    if "value" in columns and "label" in columns:
        raise InputError("answers have both a 'value' and a 'label' column; keep one (label is an alias of value)")
    value_column = "value" if "value" in columns else "label" if "label" in columns else None
    if value_column is None:
        missing.append("value")
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise InputError(
            f"answers are missing column(s) {', '.join(missing)} (found: {found}); "
            "give columns task, worker, value (value may be called label)"
        )
    assert value_column is not None
    return value_column


def _numeric_values(column: pd.Series, name: str, task: pd.Series, worker: pd.Series) -> FloatArray:
    def where(position: int) -> str:
        return f"row {position + 1} (task {show(task.iloc[position])}, worker {show(worker.iloc[position])})"

    kind = pd.api.types.infer_dtype(column, skipna=True)
    if kind in ("boolean", "datetime", "datetime64", "date", "timedelta", "timedelta64", "time", "period", "complex"):
        held = "booleans" if kind == "boolean" else f"{kind} values"
        raise InputError(f"column {name!r} holds {held}; give numeric values")
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        coerced = pd.to_numeric(column, errors="coerce")
        not_numeric = (coerced.isna() & column.notna()).to_numpy()
        if not_numeric.any():
            position = int(np.flatnonzero(not_numeric)[0])
            raise InputError(
                f"column {name!r} has a non-numeric value {show(column.iloc[position])} at {where(position)}; "
                "give numbers only"
            )
        values = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        kind = "missing (NaN)" if np.isnan(values[position]) else f"infinite ({values[position]})"
        raise InputError(
            f"column {name!r} has {int(bad.sum())} missing or infinite value(s), first {kind} at {where(position)}; "
            "drop those rows or fill them with finite numbers"
        )
    return values


def _factorize(column: pd.Series) -> tuple[IntArray, pd.Index]:
    try:
        codes, labels = pd.factorize(column, sort=True)
    except TypeError:  # labels of mixed, unorderable types: keep first-appearance order
        codes, labels = pd.factorize(column, sort=False)
    return codes.astype(np.int64, copy=False), pd.Index(labels, name=None)


def _merged_sorted(existing: pd.Index, new: pd.Index) -> tuple[pd.Index, IntArray, IntArray]:
    """The union of two label indexes, sorted when it can be (as :func:`_factorize` sorts), with the new
    code of each label of ``new`` and of ``existing``."""
    union, new_codes = merged_codes(existing, new)
    try:
        order = np.argsort(union.to_numpy(), kind="stable")
    except TypeError:  # unorderable labels: first-appearance order, as _factorize keeps them
        return union, new_codes, np.arange(len(existing), dtype=np.int64)
    rank = np.empty(len(union), dtype=np.int64)
    rank[order] = np.arange(len(union))
    return union.take(order), rank[new_codes], rank[: len(existing)]


def _recode(codes: IntArray, n_codes: int) -> tuple[IntArray, IntArray]:
    """``np.unique(codes, return_inverse=True)`` for codes in ``[0, n_codes)``, in linear time (no sort).

    Returns the codes in use, ascending, and each code's rank among them.
    """
    used = np.bincount(codes, minlength=n_codes) > 0
    rank = np.cumsum(used, dtype=np.int64) - 1
    return np.flatnonzero(used), rank[codes]
