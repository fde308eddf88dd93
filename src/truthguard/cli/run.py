"""``truthguard run``: run an experiment file's grid into a results folder (resumable, in parallel)."""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from truthguard.cli.cluster import add_cluster_arguments, cluster_client
from truthguard.cli.common import emit_summary
from truthguard.errors import InputError
from truthguard.experiments.config import Experiment, read_experiment
from truthguard.experiments.runner import JOURNAL, run_experiment

EXAMPLES = """\
examples:
  truthguard run experiment.toml -o results/
  truthguard run experiment.toml -o results/ --jobs 1 --json   # again: only missing or failed cells run
  truthguard run experiment.toml -o results/ --scheduler tcp://10.0.0.5:8786   # cells over a Dask cluster
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run an experiment file (datasets x methods x defenses x attacks x fractions x seeds)",
        description="Run every cell of an experiment file (TOML; see truthguard.experiments.config) and write "
        "results.parquet, results.csv and experiment.json into the results folder. Cells already in its journal "
        f"({JOURNAL}) are skipped, failed ones run again; a failing cell is recorded with its error and the "
        "others go on; Ctrl-C keeps every finished cell.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("experiment", metavar="EXPERIMENT.toml", help="the experiment file")
    add_grid_arguments(parser)
    parser.set_defaults(run=run)


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every command that runs a grid: the results folder, processes, output format."""
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="results folder (created if needed)")
    parser.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: every core)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the run's figures")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_cluster_arguments(parser, "run the cells")


def run(args: argparse.Namespace) -> int:
    experiment = read_experiment(args.experiment)
    return report_run(experiment, run_grid(experiment, args), args)


def run_grid(experiment: Experiment, args: argparse.Namespace) -> pd.DataFrame:
    """Run ``experiment`` into ``--output`` with ``--jobs`` processes: the results table."""
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs takes a positive number of processes; got {args.jobs}")
    with cluster_client(args) as client:
        if client is None:
            return run_experiment(experiment, args.output, jobs=args.jobs)
        if args.jobs is not None:
            raise InputError("--jobs counts local processes; on a cluster every worker thread runs cells")
        threads = sum(worker["nthreads"] for worker in client.scheduler_info()["workers"].values())
        return run_experiment(experiment, args.output, jobs=max(1, threads), pool=client.get_executor(pure=False))


def report_run(experiment: Experiment, table: pd.DataFrame, args: argparse.Namespace) -> int:
    """Print what a run did (text or ``--json``); the exit status: 1 when a cell failed, else 0."""
    failed = table[table["status"] != "ok"]
    summary = {
        "experiment": experiment.name,
        "output": args.output,
        "cells": len(table),
        "failed": [{"key": key, "error": error} for key, error in zip(failed["key"], failed["error"], strict=True)],
        "seconds": float(table["seconds"].sum()),
    }
    lines = [
        f"experiment  {experiment.name}: {len(table)} cells, {len(failed)} failed, {summary['seconds']:.1f} s of work",
        f"results     {args.output}/results.parquet, results.csv, experiment.json",
        *(f"failed      {row['key']}: {row['error']}" for row in summary["failed"][:10]),
    ]
    emit_summary(summary, lines, args.json, None)
    return 1 if len(failed) else 0
