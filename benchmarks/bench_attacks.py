"""Benchmark: time and strength of the optimised attack against CRH and GTM.

Two settings (issues #3 and #7), each against CRH and GTM at f = 0.1 with full knowledge:

* Emotion (needs ``$TRUTHGUARD_DATA``), the attack with its default budget; targets: <= 10 s, MAE against
  GTM >= 45 and against CRH >= the best baseline;
* synthetic, 10,000 tasks x 1,000 workers who answer every task (10 million honest answers, 1.1 million
  malicious values to choose), with issue #3's budget (no farming) and with a small farming sweep added;
  target <= 60 s.

Each row says which stage of the search produced the values (``won by``), and for the optimised attack where
its time went: exact evaluations (objective calls, remembered repeats included) and gradients.

Times are wall time of ``attack.poison`` in a fresh process state (JAX compilation included). Run from the
repository root:

    python benchmarks/bench_attacks.py                 # both settings
    python benchmarks/bench_attacks.py --only emotion
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

from truthguard import datasets
from truthguard.aggregators import CRH, GTM, Aggregator
from truthguard.aggregators.differentiable import DifferentiableFit
from truthguard.attacks import Attack, MaximumAttack, OptimizedAttack, RandomAttack, ThreatModel
from truthguard.attacks.problem import AttackProblem
from truthguard.experiments import run_attack

LARGE_BUDGET = {"steps": 6, "restarts": 1, "line_search_points": 4, "eval_every": 3, "farming_points": 0}
FARMING_BUDGET = LARGE_BUDGET | {"line_search_points": 2, "farming_points": 3, "farming_refine": 2}


#: Calls and seconds of the phases timed (see ``timed``), reset per row.
PHASES: dict[str, list[float]] = {}


def timed(owner: type, name: str, phase: str) -> None:
    """Wrap ``owner.name`` so that each call's wall time is added to ``PHASES[phase]``."""
    function = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            PHASES.setdefault(phase, []).append(time.perf_counter() - started)

    setattr(owner, name, wrapper)


timed(AttackProblem, "objective", "evaluations")
timed(DifferentiableFit, "__call__", "gradients")


def measure(data: datasets.Dataset, aggregator: Aggregator, attack: Attack) -> dict[str, Any]:
    started = time.perf_counter()
    PHASES.clear()
    report, _ = run_attack(data.answers, data.bounds, aggregator, attack, data.truth, random_state=0)
    phases = {f"{phase}": [len(times), sum(times)] for phase, times in PHASES.items()}
    assert report.before is not None and report.after is not None
    return {
        "attack": attack.name + (f"/{attack.mode}" if isinstance(attack, MaximumAttack) else ""),
        "aggregator": aggregator.name,
        "mae_before": report.before.mae,
        "mae_after": report.after.mae,
        "deviation": report.deviation,
        "malicious_weight_share": report.malicious_weight_share,
        "won_by": report.stage,
        "attack_seconds": report.seconds,
        "total_seconds": time.perf_counter() - started,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "phases": phases,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["emotion", "synthetic"], help="run one setting")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    threat = ThreatModel(fraction=0.1)
    rows: list[dict[str, Any]] = []
    settings: list[tuple[str, Any, list[dict[str, Any]]]] = []
    if args.only in (None, "emotion"):
        settings.append(("emotion", lambda: datasets.load("emotion"), [{}]))
    if args.only in (None, "synthetic"):
        synthetic = lambda: datasets.make_synthetic(n_tasks=10_000, n_workers=1_000)  # noqa: E731
        settings.append(("synthetic 10k x 1k", synthetic, [LARGE_BUDGET, FARMING_BUDGET]))
    for label, load, budgets in settings:
        data = load()
        for aggregator in (CRH(), GTM()):
            for attack in (
                RandomAttack(threat),
                MaximumAttack(threat),
                MaximumAttack(threat, mode="far"),
                *(OptimizedAttack(threat, **budget) for budget in budgets),
            ):
                budget = {k: v for k, v in attack.get_params().items() if k != "threat"}
                row = {"setting": label, "budget": budget} | measure(data, aggregator, attack)
                rows.append(row)
                print(
                    f"{label:<20} {row['aggregator']:<4} {row['attack']:<12} MAE {row['mae_before']:7.3f} -> "
                    f"{row['mae_after']:7.3f}  deviation {row['deviation']:7.3f}  "
                    f"attack {row['attack_seconds']:6.1f} s  won by {row['won_by']}"
                    + "".join(f"; {count} {phase} {seconds:.1f} s" for phase, (count, seconds) in row["phases"].items())
                    * isinstance(attack, OptimizedAttack),
                    flush=True,
                )
    peak = max(r["peak_rss_gib"] for r in rows)
    print(f"peak RSS {peak:.2f} GiB; {os.cpu_count()} CPUs; Python {platform.python_version()}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
