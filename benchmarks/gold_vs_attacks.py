"""Gold tasks against attackers who do not know which tasks are gold (issue #11), on Emotion.

    python benchmarks/gold_vs_attacks.py          # about 2 minutes

10 % of the tasks are gold (70 of 700, drawn with seed 0; the attacker does not know them). The screen flags
a worker whose mean error on the gold tasks it answered exceeds 3 times the median worker's, and removes it.

1. **How many tasks can a farming attacker push before the screen catches it?** Every malicious worker
   (f = 0.1: 4; f = 0.3: 16, answering every task) copies the clean estimate except on the ``n`` tasks where
   the estimate is farthest from a bound, where it answers that bound; gold tasks fall among the pushed ones
   at random. For each ``n``: how many attackers the screen flags, and the MAE on the 630 other tasks with
   and without the screen (the clean MAE beside).
2. **The library's attacks** (optimised, far bound), crafted against the method without gold: MAE on the
   other tasks under the method alone, with gold as anchor only, and with the screen.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd


def _mae(model: Any, truth: pd.Series) -> float:
    return float((model.truths_.loc[truth.index] - truth).abs().mean())


def _farming(answers: pd.DataFrame, bounds: Any, estimate: pd.Series, k: int, n: int) -> pd.DataFrame:
    def per_task(bound: Any) -> pd.Series:
        return bound.reindex(estimate.index) if isinstance(bound, pd.Series) else pd.Series(bound, estimate.index)

    low, high = per_task(bounds.low), per_task(bounds.high)
    far = low.where(estimate - low > high - estimate, high)
    pushed = (far - estimate).abs().nlargest(n).index
    value = estimate.copy()
    value.loc[pushed] = far.loc[pushed]
    rows = [pd.DataFrame({"task": value.index, "worker": f"farmer-{i + 1}", "value": value.to_numpy()})
            for i in range(k)]  # fmt: skip
    return pd.concat([answers, *rows], ignore_index=True)


def _flagged(model: Any, workers: Any) -> int:
    screened = model.screened_
    assert screened is not None
    return int(screened["worker"].isin(workers).sum())


def main() -> int:
    warnings.simplefilter("ignore")
    from truthguard import datasets
    from truthguard.aggregators import CRH, GTM
    from truthguard.attacks import MaximumAttack, OptimizedAttack, ThreatModel

    data = datasets.load("emotion")
    rng = np.random.default_rng(0)
    gold_tasks = rng.choice(data.truth.index.to_numpy(), size=len(data.truth) // 10, replace=False)
    gold, others = data.truth.loc[gold_tasks], data.truth.drop(gold_tasks)
    print(f"Emotion: {len(data.truth)} tasks, {len(gold)} gold (seed 0); MAE on the other {len(others)} tasks.\n")
    print("1. Farming attackers pushing n tasks to the far bound, copying the clean estimate elsewhere:")
    print("| method | f (k) | n pushed | flagged | MAE, no gold | MAE, screened | clean |")
    print("|---|---|---|---|---|---|---|")
    for method in (CRH, GTM):
        clean = method().fit(data.answers)
        estimate = clean.truths_
        for k, share in ((4, "0.1"), (16, "0.3")):
            for n in (25, 50, 100, 150, 200, 250, 300, 400, 700):
                poisoned = _farming(data.answers, data.bounds, estimate, k, n)
                plain = method().fit(poisoned)
                screened = method().fit(poisoned, gold=gold, gold_screen=True)
                flagged = _flagged(screened, [f"farmer-{i + 1}" for i in range(k)])
                print(f"| {method.name} | {share} ({k}) | {n} | {flagged} of {k} | {_mae(plain, others):.2f} | "
                      f"{_mae(screened, others):.2f} | {_mae(clean, others):.2f} |", flush=True)  # fmt: skip
    print("\n2. The library's attacks, crafted against the method without gold (seed 0):")
    print("| method | attack | f | flagged | MAE, no gold | anchored | screened |")
    print("|---|---|---|---|---|---|---|")
    for method in (CRH, GTM):
        for attack_name, attack in (("optimized", OptimizedAttack), ("far bound", MaximumAttack)):
            for fraction in (0.1, 0.3):
                threat = ThreatModel(fraction=fraction)
                crafter = MaximumAttack(threat, mode="far") if attack is MaximumAttack else OptimizedAttack(threat)
                attacked = crafter.poison(data.answers, data.bounds, method(), random_state=0)
                plain = method().fit(attacked.answers)
                anchored = method().fit(attacked.answers, gold=gold)
                screened = method().fit(attacked.answers, gold=gold, gold_screen=True)
                flagged = _flagged(screened, attacked.malicious_workers)
                print(f"| {method.name} | {attack_name} | {fraction} | {flagged} of {attacked.n_malicious} | "
                      f"{_mae(plain, others):.2f} | {_mae(anchored, others):.2f} | {_mae(screened, others):.2f} |",
                      flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
