"""What platforms ask for every day (issue #11): how often a 90 % interval covers the truth, and what
intervals and incremental updates cost at 10^7 answers beside a plain fit.

    python benchmarks/bench_everyday.py                 # both parts, about 10 minutes
    python benchmarks/bench_everyday.py --skip-large    # the coverage table only

Coverage: synthetic data (2,000 tasks, 50 workers, about 10 answers per task, noise sd 1-20; truths known),
Emotion and Weather (ground truth from their authors), for a 90 % interval of each method with 200 bootstrap
replicates (seed 0; GTM: its posterior). Cost: the suite's 10^7 answers (1M tasks x 10, 100k workers), each
row in its own process: a fit, ``predict_interval`` after it, and ``partial_fit`` adding the last 10 % of
the tasks (10^6 answers) to a fit of the first 90 %: time, peak memory above the answers' own, iterations.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
import warnings
from typing import Any

import numpy as np

from suite import _data, _peak_bytes, _reset_peak  # the suite's data and memory counters

METHODS = ("mean", "median", "crh", "gtm", "catd", "lfc-n", "mwa")


def _model(name: str) -> Any:
    from truthguard.aggregators import CRH, make_aggregator
    from truthguard.defenses import make_defense

    return make_defense("mwa", CRH()) if name == "mwa" else make_aggregator(name)


def _coverage(answers: Any, truth: Any, name: str, calibrated: bool = False) -> tuple[float, float]:
    if calibrated:  # 10 % of the tasks gold (seed 0), coverage measured on the others
        gold = truth.sample(frac=0.1, random_state=0)
        model = _model(name).fit(answers, gold=gold)
        truth = truth.drop(gold.index)
    else:
        model = _model(name).fit(answers)
    interval = model.predict_interval(0.9, n_bootstrap=200, random_state=0, calibrate=calibrated)
    known = truth.index.intersection(interval.index)
    low, high, value = interval.loc[known, "low"], interval.loc[known, "high"], truth.loc[known]
    return float(((value >= low) & (value <= high)).mean()), float(np.median(high - low))


def _cost_row(name: str, n_bootstrap: int) -> dict[str, Any]:
    warnings.simplefilter("ignore")
    frame, answers = _data(10**7)
    del frame
    model = _model(name)
    base = _reset_peak()
    started = time.perf_counter()
    model.fit(answers)
    fit_seconds, fit_peak = time.perf_counter() - started, _peak_bytes() - base
    _reset_peak()
    started = time.perf_counter()
    model.predict_interval(0.9, n_bootstrap=n_bootstrap, random_state=0)
    return {"fit_seconds": fit_seconds, "fit_peak": fit_peak, "interval_seconds": time.perf_counter() - started,
            "interval_peak": _peak_bytes() - base, "answers": answers.n_answers}  # fmt: skip


def _update_row(name: str) -> dict[str, Any]:
    warnings.simplefilter("ignore")
    frame, answers = _data(10**7)
    late = frame["task"] >= frame["task"].max() * 0.9
    old, new = frame[~late], frame[late]
    del frame
    full = _model(name).fit(answers)
    model = _model(name).fit(old)
    base = _reset_peak()
    started = time.perf_counter()
    model.partial_fit(new)
    return {"seconds": time.perf_counter() - started, "peak": _peak_bytes() - base, "n_iter": model.n_iter_,
            "full_n_iter": full.n_iter_, "new_answers": len(new),
            "difference": float((model.truths_ - full.truths_.loc[model.truths_.index]).abs().max())}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-large", action="store_true", help="only the coverage table")
    parser.add_argument("--bootstrap", type=int, default=200, help="replicates at 10^7 answers (default 200)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from truthguard import datasets

    sets = {
        "synthetic": datasets.make_synthetic(n_tasks=2000, n_workers=50, density=0.2, seed=3),
        "Emotion": datasets.load("emotion"),
        "Weather": datasets.load("weather"),
    }
    for calibrated in (False, True):
        print("\nCoverage of 90 % intervals (median width in brackets)"
              + (", calibrated on 10 % gold tasks, measured on the others:" if calibrated else ":"))  # fmt: skip
        print("| method | " + " | ".join(sets) + " |")
        print("|---|" + "---|" * len(sets))
        for name in METHODS:
            cells = []
            for data in sets.values():
                covered, width = _coverage(data.answers, data.truth, name, calibrated)
                cells.append(f"{covered:.1%} ({width:.3g})")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    if args.skip_large:
        return 0
    print(f"\nAt 10^7 answers ({args.bootstrap} replicates; peak memory above the answers' own, in processes of "
          "their own):")  # fmt: skip
    print("| method | fit | fit peak | predict_interval | its peak |")
    print("|---|---|---|---|---|")
    context = multiprocessing.get_context("spawn")
    mib = 2**20
    updates = {}
    for name in ("crh", "gtm"):
        with context.Pool(1, maxtasksperchild=1) as pool:
            row = pool.apply(_cost_row, (name, args.bootstrap))
        with context.Pool(1, maxtasksperchild=1) as pool:
            updates[name] = pool.apply(_update_row, (name,))
        print(f"| {name} | {row['fit_seconds']:.2f} s | {row['fit_peak'] / mib:.0f} MiB | "
              f"{row['interval_seconds']:.1f} s | {row['interval_peak'] / mib:.0f} MiB |", flush=True)  # fmt: skip
    print("\npartial_fit adding the last 10 % of the tasks (10^6 answers) to a fit of the first 90 %:")
    print("| method | partial_fit | its peak | iterations (a fit on all) | largest difference from that fit |")
    print("|---|---|---|---|---|")
    for name, row in updates.items():
        print(f"| {name} | {row['seconds']:.2f} s | {row['peak'] / mib:.0f} MiB | {row['n_iter']} "
              f"({row['full_n_iter']}) | {row['difference']:.1e} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
