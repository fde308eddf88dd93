"""The Dask backend's scaling (issue #10): CRH and GTM fitted on a Parquet dataset of N answers on a local
cluster of 1 and of 2 single-threaded worker processes, beside the in-memory fit of the same answers.

    python benchmarks/bench_distributed.py                          # 10^7 answers: about 5 minutes here
    python benchmarks/bench_distributed.py --answers 1e6 --partitions 4 --json distributed.json

Synthetic answers as in ``suite.py`` (N/10 tasks x 10 answers, N/100 workers), written as ``--files`` Parquet
files with the rows shuffled (every file holds answers of most tasks), read by the cluster and sorted into
``--partitions`` partitions of whole tasks. Per row: seconds to distribute (read, sort, validate, code),
seconds of the second fit in the same processes (warm: imports and compiled code loaded; the constants, the
iterations, the gathering of the estimates and the dominated-estimate check included), that over the
iterations, the largest difference from the in-memory estimates, the workers' peak resident memory, and the
bytes one iteration sends between processes (the per-worker sums up the reduction tree, the weights down to every
partition: 2 x partitions x workers-in-the-crowd x 8 bytes, plus one number per partition).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster

from truthguard import Answers
from truthguard import distributed as tgd
from truthguard.aggregators import CRH, GTM
from truthguard.core.resources import SINGLE_THREADED
from truthguard.datasets import make_synthetic

METHODS = {"crh": CRH, "gtm": GTM}


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _write(n: int, files: int, folder: Path) -> pd.DataFrame:
    frame = make_synthetic(n_tasks=n // 10, n_workers=max(n // 100, 20), answers_per_task=10, seed=0).answers
    dd.from_pandas(frame.sample(frac=1.0, random_state=0), npartitions=files).to_parquet(folder)
    return frame


def _in_memory(frame: pd.DataFrame) -> dict[str, Any]:
    answers = Answers.from_frame(frame)
    rows = {}
    for name, cls in METHODS.items():
        cls().fit(answers)  # warm: numba's machine code loaded, as in the cluster's second fit below
        started = time.perf_counter()
        fitted = cls().fit(answers)
        seconds = time.perf_counter() - started
        rows[name] = {"seconds": seconds, "n_iter": fitted.n_iter_, "truths": fitted.truths_.to_numpy()}
    return rows


def _on_cluster(folder: Path, workers: int, partitions: int, reference: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, env=SINGLE_THREADED
        ) as cluster,
        Client(cluster) as client,
    ):
        started = time.perf_counter()
        answers = tgd.distribute(folder, client, npartitions=partitions)
        client.gather(list(answers.claims))
        distribute_seconds = time.perf_counter() - started
        for name, cls in METHODS.items():
            tgd.fit(cls(), answers, client)  # warm: the workers' imports and compiled code loaded
            started = time.perf_counter()
            fitted = tgd.fit(cls(), answers, client)
            seconds = time.perf_counter() - started
            crowd = answers.n_workers
            rows.append(
                {
                    "method": name,
                    "dask_workers": workers,
                    "partitions": answers.n_partitions,
                    "distribute_s": round(distribute_seconds, 2),
                    "fit_s": round(seconds, 2),
                    "n_iter": fitted.n_iter_,
                    "iteration_ms": round(1000 * seconds / max(fitted.n_iter_, 1), 1),
                    "in_memory_fit_s": round(reference[name]["seconds"], 2),
                    "max_difference": float(np.max(np.abs(fitted.truths_.to_numpy() - reference[name]["truths"]))),
                    "worker_peak_mib": round(max(client.run(_peak_rss).values()) / 2**20),
                    "bytes_per_iteration": 2 * answers.n_partitions * crowd * 8 + 8 * answers.n_partitions,
                }
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--answers", type=float, default=1e7, help="answers (default 1e7)")
    parser.add_argument("--files", type=int, default=16, help="Parquet files written (default 16)")
    parser.add_argument("--partitions", type=int, default=8, help="partitions on the cluster (default 8)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="cluster sizes (default 1 2)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()
    n = int(args.answers)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "answers"
        started = time.perf_counter()
        frame = _write(n, args.files, folder)
        print(f"{n:,} answers written as {args.files} Parquet files in {time.perf_counter() - started:.1f} s")
        reference = _in_memory(frame)
        del frame
        rows = [row for workers in args.workers for row in _on_cluster(folder, workers, args.partitions, reference)]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if args.json:
        Path(args.json).write_text(json.dumps({"answers": n, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
