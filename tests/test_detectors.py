"""Detectors, detection metrics, RemoveThenAggregate and ``truthguard detect``."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import Run, assert_input_error, make_runner
from truthguard import InputError
from truthguard.aggregators import CRH, GTM
from truthguard.attacks import BlackBoxAttack, MaximumAttack, OptimizedAttack, ThreatModel
from truthguard.datasets import Dataset, make_synthetic
from truthguard.defenses import (
    MWA,
    CollusionDetector,
    CombinedDetector,
    DisagreementDetector,
    FarmingDetector,
    InfluenceDetector,
    RemoveThenAggregate,
)
from truthguard.experiments import run_attack
from truthguard.metrics import detection, mae, roc_curve


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(capsys)


def test_detection_metrics_against_counting() -> None:
    """Golden: ROC AUC as the share of (malicious, honest) pairs ordered correctly, ties half, counted
    pair by pair; precision, recall and F1 of a flagged set by hand."""
    scores = pd.Series([0.9, 0.1, 0.5, 0.5, 0.7, 0.2], index=list("abcdef"))
    malicious = pd.Series([True, False, True, False, False, False], index=list("abcdef"))
    pairs = [
        1.0 if scores[m] > scores[h] else 0.5 if scores[m] == scores[h] else 0.0
        for m, h in itertools.product(malicious.index[malicious], malicious.index[~malicious])
    ]
    result = detection(scores, malicious, pd.Index(["a", "e", "c"]))
    assert result.roc_auc == pytest.approx(sum(pairs) / len(pairs))  # (4 + 1.5) / 8
    assert (result.precision, result.recall) == (pytest.approx(2 / 3), 1.0)
    assert result.f1 == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    default = detection(scores, malicious)  # flags as many as are malicious: a, e
    assert (default.n_flagged, default.precision) == (2, 0.5)
    with pytest.raises(InputError, match="no malicious label for worker 'f'"):
        detection(scores, malicious.drop("f"))


def test_roc_curve_by_hand_and_its_area() -> None:
    """Golden: scores 3, 2, 2, 1 with the first and a tied second malicious. Thresholds from the top: >= 3
    flags one attacker (0, 1/2); >= 2 flags the tie, one of each (1/2, 1); >= 1 flags everyone (1, 1). Its
    trapezoid area equals detection()'s AUC on random data with many ties."""
    fpr, tpr = roc_curve([3.0, 2.0, 2.0, 1.0], [True, True, False, False])
    np.testing.assert_array_equal(fpr, [0, 0, 0.5, 1])
    np.testing.assert_array_equal(tpr, [0, 0.5, 1, 1])
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores, labels = rng.integers(0, 4, 12).astype(float), np.r_[True, False, rng.random(10) < 0.3]
        fpr, tpr = roc_curve(scores, labels)
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0) and (fpr[-1], tpr[-1]) == (1, 1)
        assert np.trapezoid(tpr, fpr) == pytest.approx(detection(pd.Series(scores), pd.Series(labels)).roc_auc)
    np.testing.assert_array_equal(roc_curve([1.0, 2.0], [False, False])[1], [0, 1])  # one class: the diagonal
    with pytest.raises(InputError, match="differ in length"):
        roc_curve([1.0, 2.0], [True])


def test_disagreement_golden() -> None:
    """Golden: the leave-one-out disagreement recomputed with pandas from CRH's weights."""
    frame = make_synthetic(n_tasks=20, n_workers=6, answers_per_task=4, seed=1).answers
    weights = CRH().fit(frame).weights_
    rows = frame.assign(w=frame["worker"].map(weights))
    rows["wx"] = rows["w"] * rows["value"]
    totals = rows.groupby("task")[["wx", "w"]].transform("sum")
    without = (totals["wx"] - rows["wx"]) / (totals["w"] - rows["w"])
    spread = rows.groupby("task")["value"].transform(lambda v: v.std(ddof=0))
    expected = ((rows["value"] - without).abs() / spread).groupby(rows["worker"]).mean()
    scores = DisagreementDetector().score(frame)
    pd.testing.assert_series_equal(scores, expected.rename("score").rename_axis("worker"), rtol=1e-9)


def test_farming_concentration() -> None:
    """One worker answers the truth on nine tasks and far off on one: most of its disagreement sits on its
    top 10 % (one answer); twenty honest workers with normal errors carry about a quarter there."""
    rng = np.random.default_rng(0)
    rows = []
    for task in range(10):
        truth = float(task)
        for worker in range(20):
            rows.append((task, f"h{worker}", truth + rng.normal(0, 1)))
        rows.append((task, "farmer", truth + (30.0 if task == 3 else 0.0)))
    scores = FarmingDetector().score(pd.DataFrame(rows, columns=["task", "worker", "value"]))
    assert scores["farmer"] > 0.5 > scores.drop("farmer").max()


@pytest.mark.parametrize("name", ["emotion", "weather"])
@pytest.mark.parametrize("base", [CRH, GTM], ids=["crh", "gtm"])
def test_combined_detector_finds_both_kinds_of_attacker(
    name: str, base: type, load_real: Callable[..., Dataset]
) -> None:
    """Far-bound attackers (all disagreement) and optimised ones (farming: concentrated disagreement), 10 %,
    matched load: the combined detector ranks them above the honest workers (ROC AUC >= 0.8; README table)."""
    data = load_real(name)
    threat = ThreatModel(fraction=0.1, tasks_per_worker="mean")
    for attack in (MaximumAttack(threat, mode="far"), OptimizedAttack(threat, steps=30, restarts=1)):
        poisoned = attack.poison(data.answers, data.bounds, base(), random_state=0)
        scores = CombinedDetector(base=base()).score(poisoned.answers)
        assert detection(scores, poisoned.worker_is_malicious).roc_auc >= 0.8


def test_influence_detector_is_mies_first_round() -> None:
    data = make_synthetic(n_tasks=60, n_workers=8, seed=3)
    poisoned = MaximumAttack(ThreatModel(n_malicious=2), mode="far").poison(data.answers, data.bounds)
    scores = InfluenceDetector().score(poisoned.answers)
    assert scores.nlargest(2).index.isin(poisoned.malicious_workers).all()


def test_collusion_golden() -> None:
    """Golden, pair by pair in plain Python: each answer's side of its task's median (numpy.median), centred by
    the task's mean side; per pair of workers the sum over common tasks of the products over the square root
    of their number, pairs with fewer than ``min_overlap`` common tasks left out; per worker the sum of the
    positive ones."""
    data = make_synthetic(n_tasks=30, n_workers=7, density=0.6, seed=5).answers
    data["value"] = data["value"].round(-1)  # ties with the median, where the centring matters
    rows = data.to_dict("records")
    centred: dict[tuple[object, object], float] = {}
    for _task, group in data.groupby("task"):
        median = float(np.median(group["value"]))
        sides = {w: float(np.sign(v - median)) for w, v in zip(group["worker"], group["value"], strict=True)}
        mean = sum(sides.values()) / len(sides)
        centred |= {(_task, w): side - mean for w, side in sides.items()}
    workers = sorted(data["worker"].unique())
    tasks_of = {w: {r["task"] for r in rows if r["worker"] == w} for w in workers}
    for min_overlap in (1, 8):
        expected = []
        for i in workers:
            total = 0.0
            for j in workers:
                common = tasks_of[i] & tasks_of[j]
                if j == i or len(common) < min_overlap:
                    continue
                z = sum(centred[(m, i)] * centred[(m, j)] for m in common) / len(common) ** 0.5
                total += max(z, 0.0)
            expected.append(total)
        scores = CollusionDetector(min_overlap=min_overlap).score(data)
        assert list(scores.index) == workers
        np.testing.assert_allclose(scores.to_numpy(), expected, rtol=1e-12, atol=1e-12)


def test_collusion_catches_the_attack_crafted_against_a_weighted_median(load_real: Callable[..., Dataset]) -> None:
    """Emotion, f = 0.3, matched load: the optimised attack crafted against the weighted median with CRH's
    weights leaves its attackers looking ordinary to the disagreement scores, but they stand on the same side
    of the same tasks; the collusion score ranks them first (README: AUC 1.00 against the combined score's)."""
    data = load_real("emotion")
    threat = ThreatModel(fraction=0.3, tasks_per_worker="mean")
    weighted_median = MWA(base=CRH(), n_groups=None, weighted_median=True)
    poisoned = OptimizedAttack(threat).poison(data.answers, data.bounds, weighted_median, random_state=0)
    collusion = detection(CollusionDetector().score(poisoned.answers), poisoned.worker_is_malicious)
    combined = detection(CombinedDetector().score(poisoned.answers), poisoned.worker_is_malicious)
    assert collusion.roc_auc >= 0.99 and collusion.roc_auc > combined.roc_auc
    assert collusion.f1 >= 0.9


def test_removing_colluders_holds_on_emotion(load_real: Callable[..., Dataset]) -> None:
    """The issue's target: Emotion, f = 0.3, matched load, a defense within MAE 15 under the transferred and
    the adaptive attack. Removing the 16 workers who coordinate most, then CRH: the optimised attack crafted
    against CRH is removed entirely (the clean error, 11.93) and the black-box attack crafted against the
    defense itself does no better (README adaptive table: 14.14 is the worst, from uncoordinated variants)."""
    data = load_real("emotion")
    threat = ThreatModel(fraction=0.3, tasks_per_worker="mean")
    defense = RemoveThenAggregate(CollusionDetector(), CRH(), n_malicious=16)
    transfer, poisoned = run_attack(
        data.answers, data.bounds, CRH(), OptimizedAttack(threat), data.truth, random_state=0,
        evaluate_with=defense,
    )  # fmt: skip
    assert transfer.after is not None and transfer.under_target is not None
    assert sorted(transfer.removed or []) == sorted(poisoned.malicious_workers)
    assert transfer.after.mae <= 15.0 < transfer.under_target["after"].mae
    adaptive, _ = run_attack(data.answers, data.bounds, defense, BlackBoxAttack(threat), data.truth, random_state=0)
    assert adaptive.after is not None and adaptive.after.mae <= 15.0


def test_remove_then_aggregate() -> None:
    data = make_synthetic(n_tasks=120, n_workers=12, seed=4)
    poisoned = MaximumAttack(ThreatModel(n_malicious=3), mode="far").poison(data.answers, data.bounds)
    model = RemoveThenAggregate(DisagreementDetector(), CRH(), n_malicious=3).fit(poisoned.answers)
    assert sorted(model.removed_) == sorted(poisoned.malicious_workers)
    assert mae(model.truths_, data.truth) == pytest.approx(mae(CRH().fit_predict(data.answers), data.truth))
    assert (model.weights_[model.removed_] == 0).all()
    none = RemoveThenAggregate(n_malicious=0).fit(poisoned.answers)
    pd.testing.assert_series_equal(none.truths_, CRH().fit_predict(poisoned.answers))
    with pytest.raises(InputError, match="would remove every one of the 15 workers"):
        RemoveThenAggregate(n_malicious=15).fit(poisoned.answers)


def test_cli_detect_reports_against_the_malicious_column(run: Run, tmp_path: Path) -> None:
    poisoned = tmp_path / "poisoned.csv"
    common = ("--dataset-option", "n_tasks=80", "--dataset-option", "n_workers=10")
    code, _, _ = run("attack", "--dataset", "synthetic", *common, "--attack", "maximum", "--attack-param", "mode=far",
                     "--n-malicious", "2", "-o", poisoned, "-q")  # fmt: skip
    assert code == 0
    code, out, _ = run("detect", poisoned, "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["detector"] == "combined" and len(summary["flagged"]) == 2  # as many as the column marks
    assert summary["roc_auc"] == 1.0 and summary["f1"] == 1.0
    scores = tmp_path / "scores.csv"
    code, out, _ = run("detect", poisoned, "--detector", "disagreement", "--n", "3", "-o", scores)
    assert code == 0 and "flagged     3:" in out and "ROC AUC 1.000" in out
    table = pd.read_csv(scores)
    assert list(table.columns) == ["worker", "score"] and table["score"].is_monotonic_decreasing
    code, out, _ = run("detect", poisoned, "--detector", "collusion", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["method"] is None and summary["roc_auc"] == 1.0  # reads no base method
    code, out, _ = run("aggregate", poisoned, "--defense", "remove", "--n-malicious", "2",
                       "--defense-param", "detector=collusion", "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["defense"]["params"] == {"detector": {"name": "collusion", "params": {"min_overlap": 5}},
                                                     "n_malicious": 2}  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ("--detector", "nope"),
            "unknown detector 'nope'; choose one of combined, disagreement, farming, influence, collusion",
        ),
        (("--n", "1000"), "can flag between 0 and 100 workers; got 1000"),
    ],
)
def test_cli_detect_errors(run: Run, argv: tuple[str, ...], message: str) -> None:
    assert message in assert_input_error(*run("detect", "--dataset", "synthetic", *argv))


def test_cli_detect_rejects_a_bad_malicious_column(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "answers.csv"
    pd.DataFrame(
        {"task": [1, 1, 2], "worker": ["a", "b", "a"], "value": [1.0, 2.0, 3.0], "malicious": [1, 0, 0]}
    ).to_csv(path, index=False)
    assert "worker 'a' is marked both malicious and not" in assert_input_error(*run("detect", path))
    pd.DataFrame({"task": [1], "worker": ["a"], "value": [1.0], "malicious": ["maybe"]}).to_csv(path, index=False)
    assert "column malicious must be true/false or 1/0" in assert_input_error(*run("detect", path))
