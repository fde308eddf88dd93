"""How strong the attacks are on Emotion, Weather and synthetic data, against CRH and GTM.

The attacker cannot see the ground truth: the threat model's goal is the *deviation* of the poisoned
estimates from the clean ones, which is what the optimised attack maximises and what it provably never does
worse on than the baselines (it evaluates them and keeps the best). Error against the truth follows
deviation, but not exactly: a larger deviation can move some estimates towards the truth. So the error check
allows 8% of the clean MAE; the largest gap measured is 7.2% (Weather, CRH, 20%: the optimised attack, its
best candidate from reliability farming, moves the estimates by 4.63 on average against 2.71 for the maximum
attack, yet scores MAE 5.33 against 5.67, since on Weather many clean estimates err towards the far bound;
before farming the largest gap was 4.9%, Emotion, CRH, 10%: 10.50 against 10.39 on deviation, 16.39
against 16.97 on MAE). And where no attack can do much (Weather with GTM at 10-20%: one or two malicious
sources among ten or eleven), the MAE may even drop slightly while the estimates move.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from truthguard.aggregators import CRH, GTM, Aggregator
from truthguard.attacks import Attack, MaximumAttack, OptimizedAttack, RandomAttack, ThreatModel
from truthguard.datasets import Dataset, make_synthetic
from truthguard.experiments import AttackReport, run_attack

AGGREGATORS: dict[str, Callable[[], Aggregator]] = {"crh": CRH, "gtm": GTM}
DATASETS = ["emotion", "weather", "synthetic"]
# The defaults are 100 steps, 3 restarts, 12 farming points and 6 refinements: a smaller search is enough here.
BUDGET = {"steps": 30, "restarts": 2, "farming_points": 6, "farming_refine": 3}


@pytest.fixture(scope="module")
def dataset(load_real: Callable[..., Dataset]) -> Callable[[str], Dataset]:
    synthetic = make_synthetic(n_tasks=300, n_workers=30, seed=0)
    return lambda name: synthetic if name == "synthetic" else load_real(name)


def _run(data: Dataset, aggregator: Aggregator, attack: Attack, seed: int = 0) -> AttackReport:
    report, poisoned = run_attack(data.answers, data.bounds, aggregator, attack, data.truth, random_state=seed)
    low, high = data.bounds.arrays(poisoned.answers.tasks)
    values, tasks = poisoned.answers.value, poisoned.answers.task
    assert np.all(values >= low[tasks]) and np.all(values <= high[tasks])
    return report


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3])
@pytest.mark.parametrize("method", list(AGGREGATORS))
@pytest.mark.parametrize("name", DATASETS)
def test_optimized_attack_beats_the_baselines(
    dataset: Callable[[str], Dataset], name: str, method: str, fraction: float
) -> None:
    data = dataset(name)
    threat = ThreatModel(fraction=fraction)
    optimized = _run(data, AGGREGATORS[method](), OptimizedAttack(threat, **BUDGET))
    baselines = [RandomAttack(threat), MaximumAttack(threat), MaximumAttack(threat, mode="far")]
    for baseline in baselines:
        report = _run(data, AGGREGATORS[method](), baseline)
        assert optimized.objective >= report.objective  # exact: the baselines are among its candidates
        assert optimized.deviation >= report.deviation - 1e-9  # full knowledge: the objective, per task
        assert optimized.before is not None and optimized.after is not None and report.after is not None
        assert optimized.after.mae >= report.after.mae - 0.08 * optimized.before.mae


@pytest.mark.parametrize("method", list(AGGREGATORS))
@pytest.mark.parametrize("name", DATASETS)
def test_partial_knowledge_is_weaker_on_average(dataset: Callable[[str], Dataset], name: str, method: str) -> None:
    # With half the honest workers known, the attacker optimises against a guess of the aggregator's output, so
    # on average over seeds it moves the estimates less. Where the attack is simply "push to the far bound"
    # (CRH on synthetic data) both reach the same deviation up to noise, and the search is a heuristic that a
    # partial attacker can get luckier with (Weather, CRH: 3.72 against 3.68 with farming): hence 2% slack.
    data = dataset(name)
    deviation = {}
    for knowledge in ("full", "partial"):
        threat = ThreatModel(fraction=0.2, knowledge=knowledge, known_fraction=0.5)
        runs = [_run(data, AGGREGATORS[method](), OptimizedAttack(threat, **BUDGET), seed) for seed in range(3)]
        deviation[knowledge] = float(np.mean([run.deviation for run in runs]))
    assert deviation["partial"] <= deviation["full"] * 1.02


def test_optimized_attack_finds_more_than_the_line_search_against_gtm(dataset: Callable[[str], Dataset]) -> None:
    # Against GTM at 10% on Emotion the best point of the line search towards the far bounds is at a small
    # step (reconstruction §15: lambda ~ 0.1, MAE 15.5); choosing every malicious value separately goes far
    # beyond it: gradient ascent alone reached MAE 18.7, reliability farming then ascent reach about 42.
    data = dataset("emotion")
    attack = OptimizedAttack(ThreatModel(fraction=0.1), **BUDGET)
    report = _run(data, GTM(), attack)
    line = max(score for stage, score in attack.trace_ if stage.startswith("line"))
    assert report.objective > 3 * line
    assert report.after is not None and report.after.mae > 35.0


def test_targeted_attack_moves_the_targets_and_little_else(dataset: Callable[[str], Dataset]) -> None:
    # Three valence items pulled towards +100 by 10% malicious workers against CRH: the targets must move a
    # lot (measured: -44.8 -> 14.9 for item 601) while the 697 other items stay nearly where they were, since
    # agreeing with the estimate elsewhere is what earns the malicious workers their weight.
    data = dataset("emotion")
    targets = pd.Series(100.0, index=pd.Index([601, 602, 603], name="task"))
    threat = ThreatModel(fraction=0.1, goal="targeted", targets=targets)
    _, poisoned = run_attack(data.answers, data.bounds, CRH(), OptimizedAttack(threat, **BUDGET), random_state=0)
    before = CRH().fit_predict(data.answers)
    after = CRH().fit_predict(poisoned.answers)
    moved = (after - before).abs()
    assert (after[targets.index] - before[targets.index]).min() > 20
    assert moved.drop(targets.index).mean() < 1.0
