"""The Dask executor: partitions held on a ``dask.distributed`` cluster, summaries merged there in a tree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from distributed import Client, Future

from truthguard.aggregators.partitions import Parts
from truthguard.core.summaries import merge

__all__ = ["DaskExecutor"]

#: Summaries merged per task of the reduction tree: a few levels even for thousands of partitions.
_FAN_IN = 8
#: Broadcast arrays from this size on are copied to every worker along a binary tree before the partitions'
#: tasks read them: log2(workers) rounds instead of every worker fetching from the one that holds them.
_TREE_COPY_FROM = 1 << 20


def _merge(*parts: Any) -> Any:
    return merge(list(parts))


def _hold(value: Any) -> Any:
    return value


class DaskExecutor:
    """Runs a function on every partition as a task of ``client``'s cluster; partitions are futures.

    Arrays broadcast to every partition (the weights of an iteration) are sent once, as one task whose result
    the partitions' tasks read, rather than copied into each of them; from :data:`_TREE_COPY_FROM` bytes on
    (a million workers' weights are 8 MB) that result is first copied to every worker along a binary tree
    (``Client.replicate``), so that no single worker serves them all. Every task is a deterministic function
    of its inputs, and no input is scattered: a worker lost mid-fit costs time (the scheduler recomputes what
    it held from the tasks that made it), never a different result.
    """

    def __init__(self, client: Client) -> None:
        self.client = client

    def map(self, fn: Callable[..., Any], *args: Any) -> Parts:
        counts = {len(arg) for arg in args if isinstance(arg, Parts)}
        if len(counts) != 1:
            raise ValueError("map needs partition arguments, all with the same number of partitions")
        n = counts.pop()
        shared = [self._broadcast(arg) if isinstance(arg, np.ndarray) else arg for arg in args]
        # One batch for all partitions: the function is serialised once, the tasks sent in one message.
        columns = [list(arg) if isinstance(arg, Parts) else [arg] * n for arg in shared]
        return Parts(self.client.map(fn, *columns, pure=False))

    def _broadcast(self, array: np.ndarray[Any, Any]) -> Future[Any]:
        held = self.client.submit(_hold, array, pure=False)
        if array.nbytes >= _TREE_COPY_FROM:
            self.client.replicate([held], branching_factor=2)
        return held

    def gather(self, parts: Parts) -> list[Any]:
        """Every partition's result, brought here."""
        return list(self.client.gather(list(parts)))

    def _reduce(self, parts: Parts, combine: Callable[..., Any]) -> Any:
        level: list[Future[Any]] = list(parts)
        while len(level) > 1:
            level = [
                self.client.submit(combine, *level[i : i + _FAN_IN], pure=False) for i in range(0, len(level), _FAN_IN)
            ]
        return level[0].result()

    def merged(self, parts: Parts) -> Any:
        return self._reduce(parts, _merge)
