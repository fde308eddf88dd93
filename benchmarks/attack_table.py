"""The README's attack table: MAE after each attack, per dataset, aggregator and malicious fraction.

Full knowledge, seed 0, default attack settings. Needs ``$TRUTHGUARD_DATA`` for Emotion and Weather. Run
from the repository root:

    python benchmarks/attack_table.py                  # Markdown table on standard output
    python benchmarks/attack_table.py --datasets emotion --fractions 0.1
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
    args = parser.parse_args()
    names = list(attacks(ThreatModel()))
    print("| dataset | target | f | clean | " + " | ".join(names) + " | optimized deviation | seconds |")
    print("|---|---|---|---|" + "---|" * len(names) + "---|---|")
    for dataset in args.datasets:
        data = datasets.load(dataset)
        for target in args.targets:
            for fraction in args.fractions:
                cells, clean, extra = [], 0.0, ""
                for attack in attacks(ThreatModel(fraction=fraction)).values():
                    aggregator = AGGREGATORS[target]()
                    report, _ = run_attack(data.answers, data.bounds, aggregator, attack, data.truth, random_state=0)
                    assert report.before is not None and report.after is not None
                    clean = report.before.mae
                    cells.append(f"{report.after.mae:.2f}")
                    extra = f"{report.deviation:.2f} | {report.seconds:.1f}"
                print(f"| {dataset} | {target} | {fraction:g} | {clean:.2f} | " + " | ".join(cells) + f" | {extra} |")
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
