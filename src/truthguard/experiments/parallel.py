"""Independent pieces of work over processes, one core each (experiment cells, audit attacks)."""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from typing import TypeVar

from truthguard.core.progress import set_progress
from truthguard.core.resources import SINGLE_THREADED

__all__ = ["parallel_map"]

Item = TypeVar("Item")
Result = TypeVar("Result")


def parallel_map(
    function: Callable[[Item], Result], items: Iterable[Item], workers: int, pool: Executor | None = None
) -> Iterator[Result]:
    """``function`` of each item, yielded as each finishes: in this process when ``workers`` is 1, else in
    ``workers`` spawned single-threaded processes (``function`` and the items must pickle), or on ``pool``
    when given (a Dask cluster's executor, whose ``workers`` threads run them). Items are submitted in order,
    a few ahead of the workers, so neighbouring items (e.g. on one dataset) tend to run in the same process
    and share its caches. An exception in ``function`` propagates and cancels the rest."""
    if pool is not None:
        yield from _stream(pool, function, items, workers)
        return
    if workers <= 1:
        yield from map(function, items)
        return
    # Spawned, not forked: JAX's threads do not survive a fork. The environment is what the workers inherit.
    saved = {key: os.environ.get(key) for key in SINGLE_THREADED}
    os.environ.update(SINGLE_THREADED)
    # The workers inherit standard error, a terminal perhaps: their own bars (an attack's) would fight the
    # caller's, which counts their items, so they show none.
    processes = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=set_progress,
        initargs=(False,),
    )
    try:
        yield from _stream(processes, function, items, workers)
        processes.shutdown()
    except BaseException:
        processes.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _stream(
    pool: Executor, function: Callable[[Item], Result], items: Iterable[Item], workers: int
) -> Iterator[Result]:
    """Results as they finish, with two items per worker in flight; the rest cancelled on an error."""
    queue = iter(items)
    pending = {pool.submit(function, item) for item in itertools.islice(queue, 2 * workers)}
    try:
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                pending |= {pool.submit(function, item) for item in itertools.islice(queue, 1)}
    except BaseException:
        for future in pending:
            future.cancel()
        raise
