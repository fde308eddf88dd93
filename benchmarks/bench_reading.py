"""Reading answers from CSV: TruthGuard's strict reader against plain ``pandas.read_csv``, time and peak memory.

Writes a CSV of synthetic answers (default 10 million: 1M tasks x 10 answers, 100k workers with text ids such as
``w123``) to a temporary folder, then reads it into ``Answers`` in fresh processes, alternating the two
readers, and prints the median time of the read and coding, and the median peak resident memory of the whole
process. pandas' reader is the comparison, not an alternative: it shifts the columns of ragged rows and rewrites
ids such as ``007``.

    python benchmarks/bench_reading.py                 # 10 million answers, 5 runs each
    python benchmarks/bench_reading.py --tasks 100000 --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

READERS = {  # (imports, the timed read), run in a fresh process
    "truthguard": ("from truthguard import read_answers", "answers = read_answers(PATH)"),
    "pandas": (
        "import pandas as pd\nfrom truthguard import Answers",
        "answers = Answers.from_frame(pd.read_csv(PATH))",
    ),
}
PROBE = """
import resource, sys, time
{imports}
PATH = sys.argv[1]
started = time.perf_counter()
{read}
seconds = time.perf_counter() - started
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, answers.n_answers)
"""


def write_answers(path: Path, n_tasks: int) -> int:
    from truthguard.datasets import make_synthetic

    data = make_synthetic(n_tasks=n_tasks, n_workers=max(n_tasks // 10, 10), answers_per_task=10, seed=0)
    answers = data.answers.assign(worker="w" + data.answers["worker"].astype(str), value=data.answers["value"].round(4))
    answers.to_csv(path, index=False)
    return len(answers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000, help="tasks (10 answers each)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each reader")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "answers.csv"
        n = write_answers(path, args.tasks)
        print(f"{n:,} answers, {path.stat().st_size / 2**20:,.0f} MiB of CSV; {args.runs} runs each, alternating")
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in READERS}
        for _ in range(args.runs):
            for name, (imports, read) in READERS.items():
                result = subprocess.run(
                    [sys.executable, "-c", PROBE.format(imports=imports, read=read), str(path)],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                seconds, peak, _ = result.stdout.split()
                figures[name].append((float(seconds), float(peak)))
    print("| reader | seconds (median) | peak memory (median) |\n|---|---|---|")
    for name, runs in figures.items():
        seconds = statistics.median(s for s, _ in runs)
        peak = statistics.median(p for _, p in runs)
        print(f"| {name} | {seconds:.2f} | {peak / 2**30:.2f} GiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
