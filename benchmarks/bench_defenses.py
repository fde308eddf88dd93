"""Benchmark: the defenses' cost against their base method.

* MWA, the weight cap and the base method (CRH, GTM): full fits on 10 million synthetic answers (1M tasks,
  100k workers, 10 answers per task); target (issue #8): MWA within 2x its base's time.
* MIE: on Emotion poisoned at f = 0.3 (54 workers; target <= 5 s), and on a 1,000-worker synthetic crowd
  (10,000 tasks, 20 answers per task, f = 0.1: k = 111) with screening, stating the time and the number of
  refits: greedy MIE refits ``screen`` workers in each of ``k`` rounds, each refit warm-started, so the cost is
  about ``k * screen`` short fits instead of ``k * N`` full ones.

Medians of ``--repeats`` runs, wall time, both cores. Run from the repository root:

    python benchmarks/bench_defenses.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial

from truthguard import datasets
from truthguard.aggregators import CRH, GTM, Aggregator
from truthguard.attacks import MaximumAttack, ThreatModel
from truthguard.core import Answers
from truthguard.datasets import make_synthetic
from truthguard.defenses import MIE, MWA, WeightCap


def timed(function: Callable[[], object], repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true", help="skip the 10-million-answer fits")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print("| setting | method | seconds | ratio to base |")
    print("|---|---|---|---|")
    if not args.skip_large:
        data = make_synthetic(n_tasks=1_000_000, n_workers=100_000, answers_per_task=10, seed=0)
        answers = Answers.from_frame(data.answers)
        for base in (CRH, GTM):
            reference = timed(partial(base().fit, answers), args.repeats)
            print(f"| 10M answers | {base.name} | {reference:.2f} | 1.00 |", flush=True)
            defended: list[Aggregator] = [MWA(base=base()), MWA(base=base(), n_partitions=5), WeightCap(base=base())]
            for defense in defended:
                seconds = timed(partial(defense.fit, answers), args.repeats)
                label = f"{defense!r}".replace("\n", " ")
                print(f"| 10M answers | {label} | {seconds:.2f} | {seconds / reference:.2f} |", flush=True)
        del data, answers
    emotion = datasets.load("emotion")
    threat = ThreatModel(fraction=0.3)
    poisoned = MaximumAttack(threat, mode="far").poison(emotion.answers, emotion.bounds, CRH(), random_state=0)
    k = poisoned.n_malicious
    base_seconds = timed(lambda: CRH().fit(poisoned.answers), args.repeats)
    print(f"| Emotion f=0.3 ({poisoned.answers.n_workers} workers) | crh | {base_seconds:.3f} | 1.00 |")
    seconds = timed(lambda: MIE(n_malicious=k).fit(poisoned.answers), args.repeats)
    print(f"| Emotion f=0.3 | MIE(n_malicious={k}) | {seconds:.2f} | {seconds / base_seconds:.0f} |", flush=True)
    crowd = make_synthetic(n_tasks=10_000, n_workers=1_000, answers_per_task=20, seed=0)
    threat = ThreatModel(fraction=0.1)
    poisoned = MaximumAttack(threat, mode="far").poison(crowd.answers, crowd.bounds, CRH(), random_state=0)
    k = poisoned.n_malicious
    base_seconds = timed(lambda: CRH().fit(poisoned.answers), args.repeats)
    print(f"| 1,000 workers, f=0.1 | crh | {base_seconds:.3f} | 1.00 |")
    for screen in (10,):
        model = MIE(n_malicious=k, screen=screen)
        seconds = timed(partial(model.fit, poisoned.answers), 1)
        found = model.removed_.isin(poisoned.malicious_workers).sum()
        print(
            f"| 1,000 workers, f=0.1 | MIE(n_malicious={k}, screen={screen}): {k * screen:,} refits, "
            f"{found} of {k} attackers removed | {seconds:.1f} | {seconds / base_seconds:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
