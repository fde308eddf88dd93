"""The command line's Dask options: ``--dask local`` or ``--scheduler ADDRESS``, and answers read onto a cluster."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from truthguard.cli.common import Input, given_truth_and_bounds, load_dataset
from truthguard.errors import InputError

if TYPE_CHECKING:
    from truthguard.distributed import PartitionedAnswers

__all__ = ["add_cluster_arguments", "cluster_client", "load_on_cluster"]

_PARQUET = (".parquet", ".pq")


def add_cluster_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--dask local`` and ``--scheduler ADDRESS`` (one of them), ``--dask-workers N``; ``what`` runs there."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--dask",
        choices=["local"],
        help=f"{what} on a Dask cluster started on this machine for the run (needs truthguard[distributed])",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help=f"{what} on the running Dask cluster of this scheduler (e.g. tcp://host:8786)",
    )
    parser.add_argument(
        "--dask-workers",
        type=int,
        metavar="N",
        help="worker processes of --dask local (default: one per core)",
    )


@contextlib.contextmanager
def cluster_client(args: argparse.Namespace) -> Iterator[Any]:
    """The client of the cluster the options name, or None to work in this process."""
    if args.dask_workers is not None and args.dask is None:
        raise InputError("--dask-workers applies only with --dask local")
    where = args.dask or args.scheduler
    if where is None:
        yield None
        return
    from truthguard.distributed import connect  # an optional extra: imported only when asked for

    with connect(where, workers=args.dask_workers) as client:
        yield client


def load_on_cluster(args: argparse.Namespace, client: Any) -> Input[PartitionedAnswers]:
    """The answers the options name, read onto the cluster (a Parquet file, directory or glob, read by the
    workers; a built-in dataset, sent from here), with truth and bounds checked as in memory."""
    from truthguard.distributed import distribute

    dataset = load_dataset(args)
    if dataset is not None:
        frame, truth, bounds, source = dataset
        answers = distribute(frame, client, on_duplicate=args.on_duplicate)
    else:
        path = str(args.answers)
        if not (Path(path).is_dir() or path.lower().endswith(_PARQUET)):
            raise InputError(
                f"a cluster reads answers from Parquet (a file, a folder of files or a glob); got {path!r}: "
                "convert it first (e.g. pandas.read_csv(...).to_parquet(...)) or drop --dask/--scheduler"
            )
        answers = distribute(path, client, on_duplicate=args.on_duplicate)
        truth, bounds, source = None, None, path
    truth, bounds = given_truth_and_bounds(args, answers.task_labels(), truth, bounds)
    if bounds is not None:
        answers.check_bounds(bounds)
    return Input(answers=answers, truth=truth, bounds=bounds, source=source)
