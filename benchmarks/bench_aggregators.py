"""Benchmark: throughput of one CRH iteration and full fits at scale, with peak memory.

Default size: 10 million synthetic answers (1M tasks, 100k workers, 10 answers per task), pinned to one
core. Run from the repository root:

    python benchmarks/bench_aggregators.py                 # the README's figures
    python benchmarks/bench_aggregators.py --methods crh gtm catd median --repeats 5

It prints a table and, with ``--json FILE``, writes the figures as JSON. Targets (issue #2): one CRH
iteration at >= 40 million answers per second on one core, a full CRH fit within 8 GiB peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from truthguard.aggregators import AGGREGATORS, CRH
from truthguard.core import NUMPY, Answers, Claims
from truthguard.datasets import make_synthetic


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def time_crh_iteration(answers: Answers, repeats: int) -> list[float]:
    """Seconds of one CRH iteration (weight step + truth step), ``repeats`` times after one warm-up."""
    crh = CRH()
    claims = Claims.from_answers(answers)
    prep = crh._prepare(NUMPY, claims)
    truths = crh._initial_truths(NUMPY, claims, prep)
    seconds = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        step = crh._weight_step(NUMPY, claims, prep, truths)
        truths = crh._truth_step(NUMPY, claims, prep, step.weights)
        if i:  # the first pass warms caches and page-faults the temporaries in
            seconds.append(time.perf_counter() - started)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-tasks", type=int, default=1_000_000)
    parser.add_argument("--n-workers", type=int, default=100_000)
    parser.add_argument("--per-task", type=int, default=10, help="answers per task")
    parser.add_argument("--repeats", type=int, default=5, help="timed CRH iterations")
    parser.add_argument("--methods", nargs="*", default=["crh"], help=f"full fits to time ({', '.join(AGGREGATORS)})")
    parser.add_argument("--cores", default="0", help="CPU ids to pin to, comma-separated ('' for no pinning)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()

    if args.cores:
        os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})
    figures: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpus_pinned": sorted(os.sched_getaffinity(0)),
    }

    started = time.perf_counter()
    data = make_synthetic(
        n_tasks=args.n_tasks, n_workers=args.n_workers, answers_per_task=args.per_task, seed=args.seed
    )
    figures["generate_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    answers = Answers.from_frame(data.answers)
    figures["validate_seconds"] = time.perf_counter() - started
    figures["n_answers"] = answers.n_answers
    figures["n_tasks"] = answers.n_tasks
    figures["n_workers"] = answers.n_workers
    del data
    figures["peak_rss_gib_after_loading"] = peak_rss_gib()

    seconds = time_crh_iteration(answers, args.repeats)
    best, median = min(seconds), statistics.median(seconds)
    figures["crh_iteration_seconds_median"] = median
    figures["crh_iteration_seconds_best"] = best
    figures["crh_answers_per_second_median"] = answers.n_answers / median

    figures["fits"] = {}
    for name in args.methods:
        aggregator = AGGREGATORS[name]()
        started = time.perf_counter()
        aggregator.fit(answers)
        elapsed = time.perf_counter() - started
        figures["fits"][name] = {
            "seconds": elapsed,
            "n_iter": aggregator.n_iter_,
            "converged": aggregator.converged_,
            "peak_rss_gib_so_far": peak_rss_gib(),
        }
    figures["peak_rss_gib"] = peak_rss_gib()

    print(
        f"answers: {answers.n_answers:,} ({answers.n_tasks:,} tasks x {args.per_task}, {answers.n_workers:,} workers)"
    )
    print(f"pinned to CPUs {figures['cpus_pinned']}; Python {figures['python']}, NumPy {figures['numpy']}")
    print(f"generate {figures['generate_seconds']:.2f} s, validate + code {figures['validate_seconds']:.2f} s")
    print(
        f"one CRH iteration: median {median:.3f} s (best {best:.3f} s) over {args.repeats} runs "
        f"= {answers.n_answers / median / 1e6:.1f} M answers/s (target >= 40)"
    )
    for name, fit in figures["fits"].items():
        state = "converged" if fit["converged"] else "not converged"
        print(
            f"full {name} fit: {fit['seconds']:.2f} s, {fit['n_iter']} iterations ({state}), "
            f"peak RSS so far {fit['peak_rss_gib_so_far']:.2f} GiB"
        )
    print(f"peak RSS of the whole run (generation included): {figures['peak_rss_gib']:.2f} GiB (target <= 8)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
