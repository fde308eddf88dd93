"""The README's attack table: MAE after each attack, per dataset, aggregator, malicious fraction and load.

Full knowledge, seed 0, default attack settings. Load ``all``: every malicious worker answers every task;
``mean``: as many tasks as an honest worker on average (``tasks_per_worker="mean"``). The last columns say
which stage of the optimised attack's search produced its values (``farm <ranking> n=<tasks pushed per
worker> step=<fraction of the way to the far bound>``, ``line <step>``, ``ascent <k> from <start>``, or a
baseline) and how long it took. Needs ``$TRUTHGUARD_DATA`` for Emotion and Weather. Run from the repository
root:

    python benchmarks/attack_table.py                  # Markdown table on standard output
    python benchmarks/attack_table.py --datasets emotion --fractions 0.1 --loads all
"""

from __future__ import annotations

import argparse
import sys

from truthguard import datasets
from truthguard.aggregators import AGGREGATORS
from truthguard.attacks import Attack, MaximumAttack, OptimizedAttack, RandomAttack, ThreatModel
from truthguard.experiments import run_attack


def attacks(threat: ThreatModel) -> dict[str, Attack]:
    return {
        "random": RandomAttack(threat),
        "maximum": MaximumAttack(threat),
        "far bound": MaximumAttack(threat, mode="far"),
        "optimized": OptimizedAttack(threat),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=["emotion", "weather", "synthetic"])
    parser.add_argument("--targets", nargs="*", default=["crh", "gtm"])
    parser.add_argument("--fractions", nargs="*", type=float, default=[0.1, 0.2, 0.3])
    parser.add_argument("--loads", nargs="*", choices=["all", "mean"], default=["all", "mean"])
    args = parser.parse_args()
    names = list(attacks(ThreatModel()))
    columns = ["dataset", "target", "load", "f", "clean", *names, "optimized deviation", "won by", "seconds"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for dataset in args.datasets:
        data = datasets.load(dataset)
        for target in args.targets:
            for load in args.loads:
                for fraction in args.fractions:
                    threat = ThreatModel(fraction=fraction, tasks_per_worker=None if load == "all" else load)
                    cells, clean, extra = [], 0.0, ""
                    for attack in attacks(threat).values():
                        aggregator = AGGREGATORS[target]()
                        report, _ = run_attack(
                            data.answers, data.bounds, aggregator, attack, data.truth, random_state=0
                        )
                        assert report.before is not None and report.after is not None
                        clean = report.before.mae
                        cells.append(f"{report.after.mae:.2f}")
                        extra = f"{report.deviation:.2f} | {report.stage} | {report.seconds:.1f}"
                    row = f"| {dataset} | {target} | {load} | {fraction:g} | {clean:.2f} | " + " | ".join(cells)
                    print(f"{row} | {extra} |")
                    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
