"""The README's defense table: MAE under each defense, clean and under attack, per dataset, base method,
malicious fraction and load.

For each cell the malicious workers are the threat model's (seed 0, full knowledge). Attacks: ``far`` (the
far-bound attack, which does not depend on the aggregator), ``optimized → base`` (the optimised attack
crafted against the undefended base method, then measured under the defense: a transferred attack) and
``optimized → defense`` (crafted against the defense itself: an adaptive attack; only for differentiable
defenses: MIE's discrete choice needs the black-box attack, whose every evaluation would be a full MIE fit).
``share`` is the mean malicious share of a task's answers. Needs ``$TRUTHGUARD_DATA`` for Emotion and
Weather. Run from the repository root:

    python benchmarks/defense_table.py                     # Markdown table on standard output
    python benchmarks/defense_table.py --datasets emotion --fractions 0.3 --loads mean --bases crh
    python benchmarks/defense_table.py --datasets synthetic --loads mean   # every worker answers every task
"""

from __future__ import annotations

import argparse
import sys
import warnings

from truthguard import datasets
from truthguard.aggregators import CRH, GTM, Aggregator, IterativeAggregator, Median
from truthguard.attacks import MaximumAttack, OptimizedAttack, ThreatModel
from truthguard.defenses import (
    MIE,
    MWA,
    CollusionDetector,
    CombinedDetector,
    RemoveThenAggregate,
    WeightCap,
    WorkerGroupMWA,
)
from truthguard.experiments import run_attack
from truthguard.metrics import mae

BASES: dict[str, type[IterativeAggregator]] = {"crh": CRH, "gtm": GTM}


def defenses(base: IterativeAggregator, k: int, n_workers: int) -> dict[str, Aggregator]:
    # MIE refits every remaining worker in each of k rounds; beyond 60 workers it screens to 20 per round.
    screen = None if n_workers <= 60 else 20
    return {
        "none": base.clone(),
        "MWA G=5": MWA(base=base.clone()),
        "MWA G=5 ×5 partitions": MWA(base=base.clone(), n_partitions=5),
        "MWA per answer, weighted": MWA(base=base.clone(), n_groups=None, weighted_median=True),
        "MWA worker groups G=5": WorkerGroupMWA(base=base.clone()),
        "median": Median(),
        "weight cap 1.5": WeightCap(base=base.clone(), cap=1.5),
        "MIE (greedy, k known)": MIE(base=base.clone(), n_malicious=k, screen=screen),
        "remove (combined), then the base": RemoveThenAggregate(CombinedDetector(base=base.clone()), base.clone(), k),
        "remove (collusion), then the base": RemoveThenAggregate(CollusionDetector(), base.clone(), k),
        "remove (collusion), then weighted median": RemoveThenAggregate(
            CollusionDetector(), MWA(base=base.clone(), n_groups=None, weighted_median=True), k
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="*", default=["emotion", "weather"])
    parser.add_argument("--bases", nargs="*", choices=list(BASES), default=list(BASES))
    parser.add_argument("--fractions", nargs="*", type=float, default=[0.1, 0.3])
    parser.add_argument("--loads", nargs="*", choices=["all", "mean"], default=["mean", "all"])
    parser.add_argument("--only", nargs="*", metavar="TEXT", help="only the defenses whose label contains one of these")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # dominated-estimate warnings: expected under attack
    print("| dataset | base | load | f | share | defense | clean | far | optimized → base | optimized → defense |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.datasets:
        data = datasets.load(name)
        for base_name in args.bases:
            base = BASES[base_name]()
            for load in args.loads:
                for fraction in args.fractions:
                    threat = ThreatModel(fraction=fraction, tasks_per_worker="mean" if load == "mean" else None)
                    far = MaximumAttack(threat, mode="far")
                    optimized = OptimizedAttack(threat)
                    _, transferred = run_attack(data.answers, data.bounds, base, optimized, data.truth, random_state=0)
                    k = threat.n_malicious_for(data.answers["worker"].nunique())
                    n_workers = data.answers["worker"].nunique() + k
                    for label, defense in defenses(base, k, n_workers).items():
                        if args.only and not any(text in label for text in args.only):
                            continue
                        far_report, _ = run_attack(
                            data.answers, data.bounds, base, far, data.truth, random_state=0, evaluate_with=defense
                        )
                        clean = defense.clone().fit(data.answers)
                        assert far_report.before is not None and far_report.after is not None
                        moved = defense.clone().fit(transferred.answers)
                        transfer_mae = mae(moved.truths_, data.truth)
                        adaptive = "—"
                        if defense.differentiable and label != "none" and not isinstance(defense, Median):
                            report, _ = run_attack(
                                data.answers, data.bounds, defense, OptimizedAttack(threat), data.truth, random_state=0
                            )
                            assert report.after is not None
                            adaptive = f"{report.after.mae:.2f}"
                        elif label == "none":
                            adaptive = f"{transfer_mae:.2f}"  # crafted against the base: the same attack
                        print(
                            f"| {name} | {base_name} | {load} | {fraction:g} | {far_report.task_share_mean:.2f} | "
                            f"{label} | {mae(clean.truths_, data.truth):.2f} | {far_report.after.mae:.2f} | "
                            f"{transfer_mae:.2f} | {adaptive} |",
                            flush=True,
                        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
