"""One CRH iteration at 10^7 answers, side by side: TruthGuard on one thread and on every core, the plain pandas
iteration of the suite, and the memory bandwidth, interleaved in one process so that the machine's drift
(20-30 % between runs here) hits them alike; each timed call follows an untimed call of the same row, as
a fit's iterations follow each other (after another row, the first call on two threads wakes the idle
core). Prints min and median of each and the ratios the suite's targets
are stated in (issue #10: >= 20x pandas, >= 25 % of the read roofline).

    python benchmarks/bench_iteration.py              # about 1 minute
    python benchmarks/bench_iteration.py --n 1e6 --repeats 30

An iteration is what a fit's loop does once: the weights from the per-worker sums, then the truths and the
next per-worker sums (one pass over the answers, in lanes on threads from 10^6 answers). The pandas version
computes the same iteration from the same constants and is checked against it before timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from suite import BYTES_PER_ANSWER, _data, _pandas_iteration  # the suite's data and pandas iteration


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=float, default=1e7, help="answers (N/10 tasks x 10, N/100 workers)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    from truthguard.aggregators import CRH
    from truthguard.core import NUMPY, Claims
    from truthguard.core.kernels import threads

    frame, answers = _data(int(args.n))
    crh = CRH()
    claims = Claims.from_answers(answers)
    prep = crh._prepare(NUMPY, claims)
    truths = crh._initial_truths(NUMPY, claims, prep)
    sums = crh._worker_sums(NUMPY, claims, prep, truths)
    state = {
        "truths": pd.Series(truths, index=answers.tasks),
        "std": frame.groupby("task")["value"].std(ddof=0).replace(0.0, float(np.std(frame["value"]))),
        "epsilon": float(prep.shared.epsilon),
    }

    def ours() -> Any:
        return crh._truths_and_sums(NUMPY, claims, prep, crh._weights(NUMPY, prep.shared, sums).weights)

    expected = pd.Series(ours()[0], index=answers.tasks)
    got = _pandas_iteration(frame, "crh", state).reindex(expected.index)
    assert np.allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-9), "pandas and TruthGuard differ"

    cores = threads()
    block = np.ones(2**27)  # 1 GiB, read once per repeat
    pool = ThreadPoolExecutor(cores)
    pieces = np.array_split(block, cores)

    def read_on_every_core() -> float:  # NumPy's sum releases the GIL: the cores read their pieces at once
        return float(sum(pool.map(np.sum, pieces)))

    rows: dict[str, Callable[[], object]] = {"TruthGuard, 1 thread": ours}
    if cores > 1:
        rows[f"TruthGuard, {cores} threads"] = ours
    rows |= {"pandas": lambda: _pandas_iteration(frame, "crh", state), "read 1 GiB": block.sum,
             "read 1 GiB, every core": read_on_every_core}  # fmt: skip
    seconds: dict[str, list[float]] = {label: [] for label in rows}
    for _ in range(args.repeats + 1):  # the first round warms up and is not counted
        for label, function in rows.items():
            os.environ["TRUTHGUARD_THREADS"] = "1" if "1 thread" in label else str(cores)
            function()  # untimed: a fit's iterations run back to back, so the timed one follows its like
            started = time.perf_counter()
            function()
            seconds[label].append(time.perf_counter() - started)
    os.environ.pop("TRUTHGUARD_THREADS")
    read = block.nbytes / statistics.median(seconds["read 1 GiB"][1:])
    read_all = block.nbytes / statistics.median(seconds["read 1 GiB, every core"][1:])
    pandas = statistics.median(seconds["pandas"][1:])
    print(f"{answers.n_answers:,} answers, {answers.n_tasks:,} tasks, {answers.n_workers:,} workers; "
          f"{args.repeats} interleaved repeats; read bandwidth (medians) {read / 1e9:.1f} GB/s on one core, "
          f"{read_all / 1e9:.1f} GB/s on {cores}")  # fmt: skip
    print("| iteration | min | median | vs pandas (medians) | of the one-core roofline | of the all-core roofline |")
    print("|---|---|---|---|---|---|")
    for label in list(rows)[:-2]:
        timed = seconds[label][1:]
        median = statistics.median(timed)
        ratio = "" if label == "pandas" else f"{pandas / median:.1f}x"
        need = answers.n_answers * BYTES_PER_ANSWER  # the stored answers read once
        print(f"| {label} | {min(timed) * 1e3:.1f} ms | {median * 1e3:.1f} ms | {ratio} | "
              f"{need / read / median:.0%} | {need / read_all / median:.0%} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
