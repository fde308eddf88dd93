"""Connecting to a Dask cluster: one started on this machine, or a running one by its scheduler's address."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from truthguard.core.progress import set_progress
from truthguard.core.resources import SINGLE_THREADED
from truthguard.errors import InputError

__all__ = ["LOCAL", "connect"]

#: The name of a cluster started on this machine for the run.
LOCAL = "local"


class _NoProgressBars(WorkerPlugin):
    """Workers draw no progress bars: a local cluster's share the caller's terminal, which shows its own."""

    name = "truthguard-no-progress-bars"

    def setup(self, worker: Any) -> None:
        set_progress(False)


@contextmanager
def connect(where: str, workers: int | None = None, timeout: float = 10.0) -> Iterator[Client]:
    """A client of the cluster ``where`` names, closed on exit.

    Args:
        where: ``"local"`` starts a cluster on this machine for the run (``workers`` processes, default one
            per core, one thread each, BLAS and XLA single-threaded), shut down on exit; anything else is the
            address of a running scheduler (``tcp://host:8786``), which is left running.
        workers: Worker processes of a local cluster.
        timeout: Seconds to wait for a scheduler.

    Raises:
        InputError: No scheduler answers at ``where`` within ``timeout``, or ``workers`` is not positive.
    """
    if where == LOCAL:
        count = workers if workers is not None else os.cpu_count() or 1
        if count < 1:
            raise InputError(f"a local cluster needs at least one worker; got {count}")
        with (
            LocalCluster(
                n_workers=count,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                env=SINGLE_THREADED,
            ) as cluster,
            Client(cluster) as client,
        ):
            client.register_plugin(_NoProgressBars())
            yield client
        return
    try:
        client = Client(where, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        raise InputError(
            f"no Dask scheduler answers at {where!r} ({error}); start one ('dask scheduler', then 'dask worker "
            "ADDRESS' on each machine) or use a local cluster"
        ) from None
    with client:
        client.register_plugin(_NoProgressBars())
        yield client
