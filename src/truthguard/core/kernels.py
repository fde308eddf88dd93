"""Compiled passes over task-sorted answers, the NumPy backend's fast path for large fits (numba).

Two loops make up most of an iteration of CRH and of the inverse-variance methods (GTM, LFC-N, CATD): the
truth step's per-task sums of weighted answers, and the weight step's per-worker sums of scaled squared
residuals. Vectorised, each is a chain of passes over 10^7-element temporaries (a gather, products, a
``bincount``); compiled, each is one pass that reads the answers once and writes only per-task or per-worker
totals. The loops add in answer order, as ``np.bincount`` does, so both paths give the same bits (tested);
the per-answer arithmetic is :func:`~truthguard.core.formulas.scaled_square`, the very function the
vectorised path calls, compiled: each formula is written once (:mod:`truthguard.core.formulas`,
:mod:`truthguard.core.segments`); the kernels only loop and add. The per-task medians (by selection, not
a sort), spreads and standardised answers (GTM's preparation) and the dominated-estimate counts are compiled
too, with the same results as their vectorised forms (tested).

The compiled path is taken by NumPy from :data:`COMPILED_FROM` answers on: below that the vectorised passes
take milliseconds, and importing numba (about half a second per process; compiled code is cached on disk)
would cost more than it saves.

**Both cores, the same bits.** From :data:`LANES_FROM` answers on, a pass is cut into :data:`LANES` *lanes*:
runs of whole tasks of about equal size (:func:`lanes`). Per-task results do not depend on the cut; the
per-worker sums are taken per lane and added in lane order, as partitions' summaries are
(:func:`~truthguard.core.summaries.merge`), on every path, vectorised ones included
(:func:`~truthguard.core.segments.segment_scaled_square_sums`), so the paths still agree bit for bit.
Compiled, the lanes run on :func:`threads` threads (the loops release the GIL). The number of lanes is fixed
and the cut depends only on the answers, so a result does not depend on how many threads ran it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from truthguard.core.backend import NUMPY, Array, ArrayBackend

__all__ = [
    "COMPILED_FROM",
    "LANES",
    "LANES_FROM",
    "compiled_applies",
    "in_lanes",
    "kernels",
    "lanes",
    "task_starts",
    "threads",
]

#: Answers from which NumPy fits use the compiled passes.
COMPILED_FROM = 1_000_000
#: Answers from which passes are cut into lanes (and per-worker sums added lane by lane).
LANES_FROM = 1_000_000
#: Lanes of a pass over at least :data:`LANES_FROM` answers: more than the cores of a typical machine, so
#: that a few threads share them evenly; fixed, so that results do not depend on the thread count.
LANES = 8

_loaded: dict[str, ModuleType] = {}
_pools: dict[int, ThreadPoolExecutor] = {}
T = TypeVar("T")


def compiled_applies(be: ArrayBackend, values: Array) -> bool:
    """Whether the compiled passes serve this computation: NumPy arrays of at least :data:`COMPILED_FROM`
    answers (JAX, under differentiation, keeps the vectorised formulas)."""
    return be is NUMPY and values.shape[0] >= COMPILED_FROM


def kernels() -> ModuleType:
    """The compiled kernels (:mod:`truthguard.core._compiled`), imported on first use."""
    if "module" not in _loaded:
        from truthguard.core import _compiled

        _loaded["module"] = _compiled
    return _loaded["module"]


def task_starts(task_counts: Array) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Where each task's answers start in task-sorted order, and the end: ``len(task_counts) + 1`` offsets."""
    starts = np.zeros(task_counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.asarray(task_counts, dtype=np.int64), out=starts[1:])
    return starts


def lanes(starts: np.ndarray[Any, np.dtype[np.int64]]) -> list[tuple[int, int]]:
    """The lanes of a pass over task-sorted answers whose tasks start at ``starts`` (:func:`task_starts`):
    ``(first task, end task)`` ranges, one below :data:`LANES_FROM` answers, else :data:`LANES` runs of whole
    tasks cut where the answers' count passes each multiple of 1/``LANES`` of the total (a lane may be empty)."""
    n_answers, n_tasks = int(starts[-1]), starts.shape[0] - 1
    count = LANES if n_answers >= LANES_FROM else 1
    cuts = np.searchsorted(starts, np.arange(1, count) * (n_answers / count)).tolist()
    bounds = [0, *cuts, n_tasks]
    return list(itertools.pairwise(bounds))


def threads() -> int:
    """Threads that run lanes: ``TRUTHGUARD_THREADS`` when set (worker processes set 1), else the cores this
    process may run on."""
    wanted = os.environ.get("TRUTHGUARD_THREADS")
    if wanted:
        return max(1, int(wanted))
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def in_lanes(function: Callable[[int, int], T], ranges: Sequence[tuple[int, int]]) -> list[T]:
    """``function(first, end)`` for each lane's tasks, on :func:`threads` threads; results in lane order."""
    count = min(threads(), len(ranges))
    if count == 1:
        return [function(first, end) for first, end in ranges]
    if count not in _pools:
        _pools[count] = ThreadPoolExecutor(count, thread_name_prefix="truthguard-lane")
    return list(_pools[count].map(lambda lane: function(*lane), ranges))
