"""Benchmark suite (issue #10): TruthGuard's fits beside a plain pandas ``groupby`` version of the same method
and beside this machine's memory bandwidth, from 10^5 to 10^7 answers (10^8 with ``--huge``), then the
optimised attack, MIE and the quick reproduction. One command; prints a table and, with ``--json``, writes
every figure.

    python benchmarks/suite.py                        # about 10 minutes on this 2-core machine
    python benchmarks/suite.py --sizes 1e5 1e6 --skip attacks reproduce
    python benchmarks/suite.py --huge --json suite.json

Each row runs in its own spawned process pinned to one core (``--cores``; the quick reproduction uses every
core, as its users run it), so its memory is its own: ``peak MiB`` is the process's peak resident size
during the timed work (the peak count is reset before it: Linux's ``clear_refs``), the data it works on
included; ``B/answer`` is that peak less the process's size before it made its data (the interpreter and
the imported libraries, numba included), per answer: the answers' own 24 bytes plus everything the work needs (an upper
bound: below 10^7 answers the allocator keeps some memory freed after making the data, which counts too).
Synthetic data: ``N`` answers = ``N/10`` tasks x 10 answers, ``N/100`` workers (10^7:
1M tasks, 100k workers). Per-iteration figures are medians of ``--repeats`` timed iterations after one
warm-up (for Mean and Median, one-pass methods, of whole fits); an iteration is what a fit's loop does once
(the weights from the per-worker sums, then the truths and the next per-worker sums), the same work as
pandas' iteration below. A full fit is timed once from scratch, first in its process (its ``n_iter``
iterations printed), and its memory is the fit's.

The two yardsticks, measured in the same run:

* **pandas**: one iteration of the same method written with ``groupby`` and ``map`` (CRH; Mean and Median
  are one ``groupby`` each), checked to give the same estimates as TruthGuard's to 1e-9 before it is timed;
  ``vs pandas`` is pandas' time over TruthGuard's.
* **roofline**: the single-core read bandwidth (the median of summing a 1 GiB array) and copy bandwidth (read +
  write of a 1 GiB copy). ``of roofline`` is the time to read the answers' three stored columns once (value
  float64, task and worker codes int64: 24 bytes per answer) at the read bandwidth, over the measured time
  of one iteration: 100 % would be a single streaming pass at memory speed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench_defenses import timed  # the benchmarks' one timing loop (this folder is on the path as a script's)

BYTES_PER_ANSWER = 24  # value float64 + task int64 + worker int64, as Answers stores them
ITERATIVE = ("crh", "gtm", "catd", "mwa")
FITS = ("mean", "median", "crh", "gtm", "catd", "mwa")
PANDAS = ("mean", "median", "crh")


# ------------------------------------------------------------------------------------------- one row, in a child


def _rss_bytes() -> int:
    """This process's resident size now (Linux)."""
    return int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
    """This process's peak resident size since the last :func:`_reset_peak` (Linux's VmHWM)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak() -> int:
    """Restart the peak-memory count from the present resident size (Linux: ``5 > /proc/self/clear_refs``),
    so the peak measured next is the timed work's, not the data generation's; returns that size."""
    Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    return _rss_bytes()


def _data(n: int) -> Any:
    from truthguard.core import Answers
    from truthguard.datasets import make_synthetic

    data = make_synthetic(n_tasks=n // 10, n_workers=max(n // 100, 20), answers_per_task=10, seed=0)
    return data.answers, Answers.from_frame(data.answers)


def _median_seconds(function: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one untimed warm-up (caches, page faults, lazy imports)."""
    function()
    return timed(function, repeats)


def _aggregator(name: str) -> Any:
    from truthguard.aggregators import AGGREGATORS, CRH
    from truthguard.defenses import MWA

    return MWA(base=CRH()) if name == "mwa" else AGGREGATORS[name]()


def _fit_row(method: str, n: int, repeats: int) -> dict[str, Any]:
    from truthguard.core import NUMPY, Claims

    frame, answers = _data(n)
    del frame
    aggregator = _aggregator(method)
    row: dict[str, Any] = {"answers": answers.n_answers}
    _reset_peak()
    started = time.perf_counter()
    aggregator.fit(answers)
    row["seconds"] = time.perf_counter() - started
    row["n_iter"] = getattr(aggregator, "n_iter_", None)
    row["peak_bytes"] = _peak_bytes()
    if method in ITERATIVE:  # one iteration of the fit's loop, from the initial truths (MWA's is its base's)
        method_of_loop = aggregator.base if method == "mwa" else aggregator
        claims = Claims.from_answers(answers)
        prep = method_of_loop._prepare(NUMPY, claims)
        sums = method_of_loop._worker_sums(NUMPY, claims, prep, method_of_loop._initial_truths(NUMPY, claims, prep))

        def iteration() -> Any:
            weights = method_of_loop._weights(NUMPY, prep.shared, sums).weights
            return method_of_loop._truths_and_sums(NUMPY, claims, prep, weights)

        row["iteration_seconds"] = _median_seconds(iteration, repeats)
    else:  # a single pass: the fit is the iteration
        row["iteration_seconds"] = _median_seconds(lambda: _aggregator(method).fit(answers), repeats)
    return row


def _pandas_iteration(frame: pd.DataFrame, method: str, state: dict[str, Any]) -> pd.Series:
    """One iteration of ``method`` written the plain pandas way (``state``: the per-fit constants)."""
    if method == "mean":
        return frame.groupby("task")["value"].mean()
    if method == "median":
        return frame.groupby("task")["value"].median()
    # CRH, squared loss, sum normalisation: weights from the truths, then truths from the weights.
    residual = frame["value"] - frame["task"].map(state["truths"])
    loss = residual * residual / frame["task"].map(state["std"])
    distance = loss.groupby(frame["worker"]).sum() + state["epsilon"]
    weights = -np.log(distance / distance.sum())
    per_answer = frame["worker"].map(weights)
    return (per_answer * frame["value"]).groupby(frame["task"]).sum() / per_answer.groupby(frame["task"]).sum()


def _pandas_row(method: str, n: int, repeats: int) -> dict[str, Any]:
    from truthguard.aggregators import CRH
    from truthguard.core import NUMPY, Claims

    frame, answers = _data(n)
    state: dict[str, Any] = {}
    if method == "crh":  # the same starting point and constants as TruthGuard's iteration, to compare results
        crh = CRH()
        claims = Claims.from_answers(answers)
        prep = crh._prepare(NUMPY, claims)
        truths = crh._initial_truths(NUMPY, claims, prep)
        ours, _ = crh._iterate(NUMPY, claims, prep, truths)
        state = {
            "truths": pd.Series(truths, index=answers.tasks),
            "std": frame.groupby("task")["value"].std(ddof=0).replace(0.0, float(np.std(frame["value"]))),
            "epsilon": float(prep.shared.epsilon),
        }
        expected = pd.Series(ours, index=answers.tasks)
        del claims, prep
    else:
        expected = pd.Series(_aggregator(method).fit(answers).truths_.to_numpy(), index=answers.tasks)
    got = _pandas_iteration(frame, method, state).reindex(expected.index)
    error = float(np.max(np.abs(got.to_numpy() - expected.to_numpy())))
    if not error <= 1e-9 * max(1.0, float(np.max(np.abs(expected)))):
        raise AssertionError(f"pandas {method} differs from TruthGuard's by {error}")
    del answers
    _reset_peak()
    seconds = _median_seconds(lambda: _pandas_iteration(frame, method, state), repeats)
    return {"answers": len(frame), "iteration_seconds": seconds, "peak_bytes": _peak_bytes(),
            "max_difference": error}  # fmt: skip


def _roofline_row(repeats: int) -> dict[str, Any]:
    data = np.ones(2**27)  # 1 GiB
    target = np.empty_like(data)
    read = _median_seconds(lambda: data.sum(), repeats)
    copy = _median_seconds(lambda: np.copyto(target, data), repeats)
    return {"read_bytes_per_second": data.nbytes / read, "copy_bytes_per_second": 2 * data.nbytes / copy,
            "peak_bytes": _peak_bytes()}  # fmt: skip


def _attack_row(setting: str, target: str) -> dict[str, Any]:
    from bench_attacks import LARGE_BUDGET  # the budget issue #3 set for the large synthetic crowd
    from truthguard import datasets
    from truthguard.attacks import OptimizedAttack, ThreatModel
    from truthguard.experiments import run_attack

    if setting == "emotion":
        data, budget = datasets.load("emotion"), {}
    else:
        data, budget = datasets.load("synthetic", n_tasks=10_000, n_workers=1_000), LARGE_BUDGET
    attack = OptimizedAttack(ThreatModel(fraction=0.1), **budget)
    _reset_peak()
    report, _ = run_attack(data.answers, data.bounds, _aggregator(target), attack, data.truth, random_state=0)
    assert report.after is not None
    return {"answers": report.n_answers, "seconds": report.seconds, "mae": report.after.mae, "stage": report.stage,
            "peak_bytes": _peak_bytes()}  # fmt: skip


def _mie_row() -> dict[str, Any]:
    from truthguard import datasets
    from truthguard.aggregators import CRH
    from truthguard.attacks import OptimizedAttack, ThreatModel
    from truthguard.defenses import MIE

    data = datasets.load("emotion")
    threat = ThreatModel(fraction=0.3)
    poisoned = OptimizedAttack(threat).poison(data.answers, data.bounds, CRH(), random_state=0)
    k = threat.n_malicious_for(data.answers["worker"].nunique())
    _reset_peak()
    started = time.perf_counter()
    MIE(base=CRH(), n_malicious=k).fit(poisoned.answers)
    return {"answers": poisoned.answers.n_answers, "seconds": time.perf_counter() - started,
            "peak_bytes": _peak_bytes()}  # fmt: skip


def _reproduce_row() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run(["truthguard", "reproduce", "--quick", "-o", folder, "-q", "--json"], check=True,
                       capture_output=True)  # fmt: skip
        seconds = time.perf_counter() - started
        cells = len(pd.read_parquet(Path(folder) / "results.parquet"))
    return {"seconds": seconds, "cells": cells,
            "peak_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}  # fmt: skip


def _run_row(spec: tuple[Any, ...], cores: set[int] | None, repeats: int) -> dict[str, Any]:
    """One row, in a fresh process: its figures or its error."""
    if cores and spec[0] != "reproduce":
        os.sched_setaffinity(0, cores)
    warnings.simplefilter("ignore")
    import truthguard.defenses
    import truthguard.experiments  # noqa: F401  (the libraries in memory before the baseline is read)
    from truthguard.core.kernels import kernels

    kernels()  # numba too (about 100 MiB; large fits import it): a library, not memory per answer

    baseline = _rss_bytes()
    kind = spec[0]
    try:
        if kind == "roofline":
            row = _roofline_row(repeats)
        elif kind == "fit":
            row = _fit_row(spec[1], spec[2], repeats)
        elif kind == "pandas":
            row = _pandas_row(spec[1], spec[2], repeats)
        elif kind == "attack":
            row = _attack_row(spec[1], spec[2])
        elif kind == "mie":
            row = _mie_row()
        else:
            return _reproduce_row()
    except Exception as error:  # a row that fails is reported, the others go on
        return {"error": f"{type(error).__name__}: {error}"}
    return row | {"baseline_bytes": baseline}


# ------------------------------------------------------------------------------------------------ the table


def _specs(sizes: list[int], skip: set[str], methods: list[str]) -> list[tuple[Any, ...]]:
    specs: list[tuple[Any, ...]] = [("roofline",)]
    for n in sizes:
        if "fits" not in skip:
            specs += [("fit", method, n) for method in FITS if method in methods]
        if "pandas" not in skip:
            specs += [("pandas", method, n) for method in PANDAS if method in methods]
    if "attacks" not in skip:
        specs += [("attack", setting, target) for setting in ("emotion", "synthetic") for target in ("crh", "gtm")]
    if "mie" not in skip:
        specs.append(("mie",))
    if "reproduce" not in skip:
        specs.append(("reproduce",))
    return specs


def _label(spec: tuple[Any, ...]) -> str:
    if spec[0] in ("fit", "pandas"):
        return f"{spec[0]} {spec[1]} 1e{round(np.log10(spec[2]))}"
    if spec[0] == "attack":
        where = "Emotion" if spec[1] == "emotion" else "synthetic 1e4 x 1e3"
        return f"optimized attack on {where} vs {spec[2]}, f = 0.1"
    return {"roofline": "memory bandwidth (1 GiB)", "mie": "MIE on Emotion at f = 0.3 (k = 16)",
            "reproduce": "reproduce --quick (every core)"}[spec[0]]  # fmt: skip


def _format(rows: list[dict[str, Any]], roofline: dict[str, Any]) -> list[str]:
    read = roofline.get("read_bytes_per_second")
    pandas = {(r["method"], r["n"]): r["iteration_seconds"] for r in rows if r["kind"] == "pandas" and "error" not in r}
    lines = [
        "| row | answers | seconds | iter s | answers/s (iter) | peak MiB | B/answer | vs pandas | of roofline |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['label']} | failed: {row['error']} |||||||| ")
            continue
        if row["kind"] == "roofline":
            bandwidth = (f"read {row['read_bytes_per_second'] / 1e9:.1f} GB/s, copy "
                         f"{row['copy_bytes_per_second'] / 1e9:.1f} GB/s")  # fmt: skip
            lines.append(f"| {row['label']} | | | | {bandwidth} | {row['peak_bytes'] / 2**20:.0f} | | | |")
            continue
        answers = row.get("answers")
        iteration = row.get("iteration_seconds")
        seconds = row.get("seconds")
        cells = {"ratio": "", "roof": "", "rate": "", "per_answer": "", "iter": "", "seconds": ""}
        if iteration and row["kind"] == "fit" and (row["method"], row["n"]) in pandas:
            cells["ratio"] = f"{pandas[row['method'], row['n']] / iteration:.1f}x"
        if iteration and read and answers and row["kind"] in ("fit", "pandas"):
            cells["roof"] = f"{answers * BYTES_PER_ANSWER / read / iteration:.0%}"
        if iteration:
            cells["iter"] = f"{iteration:.4f}"
            cells["rate"] = f"{answers / iteration / 1e6:.1f} M" if answers else ""
        if answers and row.get("baseline_bytes") is not None:
            cells["per_answer"] = f"{(row['peak_bytes'] - row['baseline_bytes']) / answers:.0f}"
        if seconds is not None:
            cells["seconds"] = f"{seconds:.2f}" + (f" ({row['n_iter']} it)" if row.get("n_iter") else "")
        if row["kind"] == "attack":
            cells["seconds"] += f" (MAE {row['mae']:.2f})"
        if row["kind"] == "reproduce":
            cells["seconds"] += f" ({row['cells']} cells)"
        lines.append(
            f"| {row['label']} | {'' if answers is None else f'{answers:,}'} | {cells['seconds']} | {cells['iter']} | "
            f"{cells['rate']} | {row['peak_bytes'] / 2**20:.0f} | {cells['per_answer']} | {cells['ratio']} | "
            f"{cells['roof']} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="*", type=float, default=[1e5, 1e6, 1e7], help="answers per fit row")
    parser.add_argument("--huge", action="store_true", help="add 10^8 answers (about 20 GiB at peak)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["fits", "pandas", "attacks", "mie", "reproduce"])
    parser.add_argument("--methods", nargs="*", default=list(FITS), choices=FITS, help="fit rows (default all)")
    parser.add_argument("--cores", default="0", help="CPU ids each row is pinned to ('' for none)")
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations per row (after one warm-up)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes] + ([10**8] if args.huge else [])
    cores = {int(c) for c in args.cores.split(",")} if args.cores else None
    context = multiprocessing.get_context("spawn")
    rows: list[dict[str, Any]] = []
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, pandas {pd.__version__}, "
          f"{os.cpu_count()} cores; rows pinned to {sorted(cores) if cores else 'no core'}", flush=True)  # fmt: skip
    for spec in _specs(sizes, set(args.skip), args.methods):
        with context.Pool(1, maxtasksperchild=1) as pool:
            figures = pool.apply(_run_row, (spec, cores, args.repeats))
        row = {"kind": spec[0], "label": _label(spec), **figures}
        if spec[0] in ("fit", "pandas"):
            row |= {"method": spec[1], "n": spec[2]}
        rows.append(row)
        print(f"  {row['label']}: {'failed: ' + row['error'] if 'error' in row else 'done'}", file=sys.stderr,
              flush=True)  # fmt: skip
    roofline = next((r for r in rows if r["kind"] == "roofline" and "error" not in r), {})
    print("\n".join(_format(rows, roofline)))
    if args.json:
        Path(args.json).write_text(json.dumps({"python": platform.python_version(), "rows": rows}, indent=2) + "\n")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
