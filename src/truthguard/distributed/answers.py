"""Answers on a Dask cluster: read, sorted into partitions of whole tasks, validated and coded where they lie."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, cast

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client

from truthguard.aggregators.partitions import Parts
from truthguard.core.answers import Answers, DuplicatePolicy, value_column
from truthguard.core.bounds import Bounds
from truthguard.core.claims import Claims
from truthguard.core.labels import show
from truthguard.distributed.executor import DaskExecutor
from truthguard.errors import InputError

__all__ = ["PartitionedAnswers", "concatenate_labels", "distribute"]

#: What :func:`distribute` reads: a Parquet file, directory or glob, a Dask DataFrame, or a pandas DataFrame.
Source = str | os.PathLike[str] | dd.DataFrame | pd.DataFrame


@dataclass(frozen=True)
class PartitionedAnswers:
    """Validated answers held on a cluster in partitions of whole tasks, in task order.

    Attributes:
        executor: The cluster's executor.
        answers: Per partition, its :class:`~truthguard.Answers` (its own tasks; worker codes of the whole).
        claims: Per partition, its claims: worker counts of the whole and its place among all answers.
        tasks: Per partition, its task labels (sorted; in order across partitions).
        workers: All worker labels, sorted; worker code ``c`` is ``workers[c]``.
        worker_counts: Answers per worker, over all partitions.
        n_answers: Answers over all partitions.
    """

    executor: DaskExecutor
    answers: Parts
    claims: Parts
    tasks: Parts
    workers: pd.Index
    worker_counts: np.ndarray[Any, Any]
    n_answers: int

    @property
    def n_partitions(self) -> int:
        return len(self.answers)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    def task_labels(self) -> pd.Index:
        """Every task label, in order (gathered here)."""
        return concatenate_labels(self.executor.gather(self.tasks))

    def check_bounds(self, bounds: Bounds) -> None:
        """Raise :class:`~truthguard.errors.InputError` if any answer lies outside its task's bounds (checked
        where each partition lies)."""
        self.executor.gather(self.executor.map(bounds.check, self.answers))


def distribute(
    source: Source,
    client: Client,
    *,
    npartitions: int | None = None,
    on_duplicate: DuplicatePolicy = "error",
) -> PartitionedAnswers:
    """Load answers onto ``client``'s cluster in partitions of whole tasks.

    The table (columns ``task``, ``worker`` and ``value`` or ``label``) is sorted by task with Dask's
    ``set_index`` (a task-based shuffle: every partition can be recomputed if a worker is lost), so each task's
    answers sit in one partition. Each partition is then validated and coded on the worker that holds it,
    exactly as :meth:`Answers.from_frame <truthguard.Answers.from_frame>` does in memory (non-numeric or
    non-finite values, missing ids, repeated (task, worker) pairs under ``on_duplicate``), with worker codes
    of the whole crowd.

    Args:
        source: A Parquet file, directory or glob; a Dask DataFrame; or a pandas DataFrame.
        client: The ``dask.distributed`` client.
        npartitions: Partitions after sorting (default: those of the source; a pandas frame: two per worker).
        on_duplicate: ``"error"``, ``"mean"`` or ``"last"``, as in memory.

    Raises:
        InputError: Missing columns, unsortable ids (tasks and workers must each be of one sortable type), or
            any problem a partition's validation finds.
    """
    frame = _as_dask_frame(source, client)
    value = value_column(frame._meta)
    frame = frame[["task", "worker", value]]
    try:
        by_task = frame.set_index("task", npartitions=npartitions, shuffle_method="tasks")
    except TypeError as error:
        raise InputError(f"task ids cannot be sorted ({error}); give task ids of one type") from None
    executor = DaskExecutor(client)
    pieces = Parts(client.compute(by_task.to_delayed()))
    sizes = executor.gather(executor.map(len, pieces))
    pieces = Parts(piece for piece, size in zip(pieces, sizes, strict=True) if size > 0)
    if not pieces:
        raise InputError("answers are empty: the table has no rows; give at least one (task, worker, value)")
    workers = _sorted_labels(executor.gather(executor.map(_worker_labels, pieces)), "worker")
    answers = executor.map(_code_piece, pieces, workers, on_duplicate)
    counts = [size for size in sizes if size > 0]
    worker_counts = np.asarray(executor.merged(executor.map(_worker_counts, answers)), dtype=np.int64)
    before = np.concatenate(([0], np.cumsum(counts)[:-1])).tolist()
    total = int(sum(counts))
    claims = executor.map(_claims_of, answers, worker_counts, Parts(before), total)
    return PartitionedAnswers(
        executor=executor,
        answers=answers,
        claims=claims,
        tasks=executor.map(_task_labels, answers),
        workers=workers,
        worker_counts=worker_counts,
        n_answers=total,
    )


def concatenate_labels(parts: list[pd.Index]) -> pd.Index:
    """The partitions' labels (task labels, tasks found by a check) one after the other, in partition order."""
    return parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]


def _as_dask_frame(source: Source, client: Client) -> dd.DataFrame:
    if isinstance(source, dd.DataFrame):
        return source
    if isinstance(source, pd.DataFrame):
        if len(source) == 0:
            raise InputError("answers are empty: the table has no rows; give at least one (task, worker, value)")
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        return cast(dd.DataFrame, dd.from_pandas(source, npartitions=min(len(source), 2 * workers)))
    if isinstance(source, str | os.PathLike):
        try:
            return cast(dd.DataFrame, dd.read_parquet(source))
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read Parquet answers from {os.fspath(source)!r}: {error}") from None
    raise InputError(
        "answers for a distributed fit must be a Parquet path, a Dask or a pandas DataFrame; "
        f"got {type(source).__name__}"
    )


def _sorted_labels(parts: list[Any], what: str) -> pd.Index:
    labels = pd.Index(np.concatenate(parts)).unique()
    try:
        return cast(pd.Index, pd.Index(labels.sort_values(), name=what))
    except TypeError:
        raise InputError(f"{what} ids of different types cannot be sorted; give {what} ids of one type") from None


def _worker_labels(piece: pd.DataFrame) -> np.ndarray[Any, Any]:
    return np.asarray(piece["worker"].unique())


def _code_piece(piece: pd.DataFrame, workers: pd.Index, on_duplicate: DuplicatePolicy) -> Answers:
    try:
        local = Answers.from_frame(piece.reset_index(), on_duplicate=on_duplicate)
    except InputError as error:
        first, last = piece.index.min(), piece.index.max()
        tasks = f"task {show(first)}" if first == last else f"tasks {show(first)} to {show(last)}"
        raise InputError(f"in the cluster's partition of {tasks} (rows counted within it): {error}") from None
    # Local worker labels are sorted, as are all workers: recoding keeps the (task, worker) order.
    codes = workers.get_indexer(local.workers)
    return Answers(local.tasks, workers, local.task, codes[local.worker], local.value)


def _worker_counts(answers: Answers) -> np.ndarray[Any, Any]:
    return answers.worker_counts()


def _task_labels(answers: Answers) -> pd.Index:
    return answers.tasks


def _claims_of(answers: Answers, worker_counts: np.ndarray[Any, Any], before: int, total: int) -> Claims:
    claims = Claims.from_answers(answers)
    return replace(claims, worker_counts=worker_counts.astype(np.float64), answers_before=before, answers_total=total)
