"""The README's adaptive-attack table: each defense under the attack crafted against its base method
(transfer) and under an attack crafted against the defense itself (adaptive).

Emotion, full knowledge, seed 0, in two settings: CRH at f = 0.3 with matched load, GTM at f = 0.1 on every
task. Adaptive attacks: the optimised attack for differentiable defenses, the black-box attack otherwise (for
MIE with a small budget: every evaluation is a full MIE fit). Against the collusion detector an attacker who
knows it would also break its coordination, so those rows report the worst of the black-box attack and of
uncoordinated variants of the strongest attack on the aggregator kept: on each task only 1, 2 or 3 malicious
answers (at random) keep their poisoned value and the others copy a random honest answer to the task. Needs
``$TRUTHGUARD_DATA``. Run from the repository root:

    python benchmarks/adaptive_table.py
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import pandas as pd

from truthguard import datasets
from truthguard.aggregators import CRH, GTM, Aggregator, IterativeAggregator
from truthguard.attacks import Attack, BlackBoxAttack, OptimizedAttack, ThreatModel
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

SETTINGS: list[tuple[type[IterativeAggregator], float, str | None]] = [(CRH, 0.3, "mean"), (GTM, 0.1, None)]


def defenses(base: type[IterativeAggregator], k: int) -> dict[str, tuple[Aggregator, Attack | None]]:
    """Each defense and the adaptive attack's hyper-parameters (None: the optimised attack's defaults)."""
    small = {"steps": 10, "line_search_points": 4, "farming_points": 4, "farming_refine": 2}
    candidates: dict[str, tuple[Aggregator, Attack | None]] = {
        "MWA per answer, weighted": (MWA(base=base(), n_groups=None, weighted_median=True), None),
        "MWA worker groups G=5": (WorkerGroupMWA(base=base()), BlackBoxAttack()),
        "weight cap 1.5": (WeightCap(base=base(), cap=1.5), None),
        "remove (combined detector)": (
            RemoveThenAggregate(CombinedDetector(base=base()), base(), n_malicious=k),
            BlackBoxAttack(),
        ),
        "MIE (greedy)": (MIE(base=base(), n_malicious=k), BlackBoxAttack(**small)),
        "remove (collusion), then the base": (
            RemoveThenAggregate(CollusionDetector(), base(), n_malicious=k),
            BlackBoxAttack(),
        ),
        "remove (collusion), then weighted median": (
            RemoveThenAggregate(
                CollusionDetector(), MWA(base=base(), n_groups=None, weighted_median=True), n_malicious=k
            ),
            BlackBoxAttack(),
        ),
    }
    if base is CRH:  # the absolute loss's fixed point is a weighted median whose weights are fitted to it
        candidates["CRH, absolute loss"] = (CRH(loss="absolute"), None)
    return candidates


def uncoordinated(poisoned: pd.DataFrame, pushers: int, seed: int = 0) -> pd.DataFrame:
    """``poisoned`` (with its ``malicious`` column) with the attackers' coordination broken: on each task only
    ``pushers`` malicious answers, chosen at random, keep their value; the others copy a random honest answer
    to the same task."""
    rng = np.random.default_rng(seed)
    honest = poisoned[~poisoned["malicious"]].sort_values("task", kind="stable")
    tasks, starts, counts = np.unique(honest["task"].to_numpy(), return_index=True, return_counts=True)
    malicious = poisoned[poisoned["malicious"]]
    rank = malicious.assign(u=rng.random(len(malicious))).groupby("task")["u"].rank(method="first")
    copy = (rank > pushers).to_numpy()
    where = np.searchsorted(tasks, malicious["task"].to_numpy()[copy])
    picks = starts[where] + (rng.random(copy.sum()) * counts[where]).astype(int)
    values = malicious["value"].to_numpy().copy()
    values[copy] = honest["value"].to_numpy()[picks]
    return pd.concat([poisoned[~poisoned["malicious"]], malicious.assign(value=values)])


def main() -> int:
    warnings.simplefilter("ignore")
    data = datasets.load("emotion")
    print("| base | f | load | defense | clean | undefended | transfer | adaptive | adaptive attack | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for base, fraction, load in SETTINGS:
        threat = ThreatModel(fraction=fraction, tasks_per_worker=load)
        k = threat.n_malicious_for(data.answers["worker"].nunique())
        for label, (defense, attack) in defenses(base, k).items():
            transfer, _ = run_attack(
                data.answers, data.bounds, base(), OptimizedAttack(threat), data.truth, random_state=0,
                evaluate_with=defense,
            )  # fmt: skip
            adaptive_attack = OptimizedAttack(threat) if attack is None else attack.set_params(threat=threat)
            started = time.perf_counter()
            adaptive, _ = run_attack(data.answers, data.bounds, defense, adaptive_attack, data.truth, random_state=0)
            assert transfer.before and transfer.after and adaptive.after and transfer.under_target
            worst, name = adaptive.after.mae, type(adaptive_attack).__name__
            if isinstance(defense, RemoveThenAggregate) and isinstance(defense.detector, CollusionDetector):
                kept = defense.base if defense.base.differentiable else base()
                strongest = OptimizedAttack(threat).poison(data.answers, data.bounds, kept, random_state=0).to_frame()
                for pushers in (1, 2, 3):
                    estimate = defense.clone().fit(uncoordinated(strongest, pushers)[["task", "worker", "value"]])
                    if (error := mae(estimate.truths_, data.truth)) > worst:
                        worst, name = error, f"uncoordinated, {pushers} per task"
            seconds = time.perf_counter() - started
            row = [
                base.name, f"{fraction:g}", load or "all", label, f"{transfer.before.mae:.2f}",
                f"{transfer.under_target['after'].mae:.2f}", f"{transfer.after.mae:.2f}", f"{worst:.2f}", name,
                f"{seconds:.0f}",
            ]  # fmt: skip
            print("| " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
