"""The README's detection table: ROC AUC and F1 of each detector against the true malicious workers.

Per dataset, base method, load and attack (the far-bound attack and the optimised attack, crafted against
the base method), f = 0.1, full knowledge, seed 0; F1 flags as many workers as are malicious. Needs
``$TRUTHGUARD_DATA``. Run from the repository root:

    python benchmarks/detection_table.py
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

from truthguard import datasets
from truthguard.aggregators import CRH, GTM
from truthguard.attacks import MaximumAttack, OptimizedAttack, ThreatModel
from truthguard.defenses import DETECTORS, make_detector
from truthguard.metrics import detection


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=["emotion", "weather", "synthetic"])
    parser.add_argument("--fraction", type=float, default=0.1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    names = list(DETECTORS)
    print("| dataset | base | load | attack | " + " | ".join(f"{n} AUC / F1" for n in names) + " | seconds |")
    print("|---|---|---|---|" + "---|" * (len(names) + 1))
    for name in args.datasets:
        data = datasets.load(name)
        for base in (CRH, GTM):
            for load in ("mean", "all"):
                threat = ThreatModel(fraction=args.fraction, tasks_per_worker="mean" if load == "mean" else None)
                for attack in (MaximumAttack(threat, mode="far"), OptimizedAttack(threat)):
                    poisoned = attack.poison(data.answers, data.bounds, base(), random_state=0)
                    cells, seconds = [], []
                    for detector_name in DETECTORS:
                        started = time.perf_counter()
                        scores = make_detector(detector_name, base()).score(poisoned.answers)
                        seconds.append(time.perf_counter() - started)
                        result = detection(scores, poisoned.worker_is_malicious)
                        cells.append(f"{result.roc_auc:.2f} / {result.f1:.2f}")
                    label = "far" if isinstance(attack, MaximumAttack) else "optimized"
                    row = [name, base.name, load, label, *cells, f"{max(seconds):.1f}"]
                    print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
