"""Gold tasks (issue #11): kept at their value, anchoring the weight step, screening workers; API and CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import truthguard.core.kernels as kernels
from cli_helpers import assert_input_error, make_runner
from truthguard import Answers, datasets
from truthguard.aggregators import AGGREGATORS, CRH, GTM, make_aggregator
from truthguard.attacks import MaximumAttack, ThreatModel
from truthguard.core.gold import align_gold, screen_workers
from truthguard.datasets import make_synthetic
from truthguard.defenses import DEFENSES, make_defense
from truthguard.errors import GoldScreenWarning, InputError
from truthguard.metrics import mae


def _small() -> Answers:
    # Five workers on four tasks; tasks a and b are gold (known 10 and 20).
    rows = [
        ("a", "w1", 11.0), ("a", "w2", 9.0), ("a", "w3", 10.0), ("a", "w4", 12.0), ("a", "w5", 40.0),
        ("b", "w1", 20.0), ("b", "w2", 22.0), ("b", "w3", 19.0), ("b", "w5", 80.0),
        ("c", "w1", 5.0), ("c", "w2", 6.0), ("c", "w4", 5.5), ("c", "w5", 90.0),
        ("d", "w3", 7.0), ("d", "w4", 8.0),
    ]  # fmt: skip
    return Answers.from_frame(pd.DataFrame(rows, columns=["task", "worker", "value"]))


GOLD = pd.Series({"a": 10.0, "b": 20.0})


def test_the_screen_flags_workers_far_beyond_the_median_worker() -> None:
    answers = _small()
    screen = screen_workers(answers, align_gold(GOLD, answers))
    # Hand-computed mean absolute gold errors: w1 (1 + 0) / 2, w2 (1 + 2) / 2, w3 (0 + 1) / 2, w4 2 / 1,
    # w5 (30 + 60) / 2; median of the five 1.5, threshold 3 x 1.5.
    np.testing.assert_array_equal(screen.gold_answers, [2, 2, 2, 1, 2])
    np.testing.assert_allclose(screen.gold_error, [0.5, 1.5, 0.5, 2.0, 45.0])
    assert screen.threshold == pytest.approx(4.5)
    np.testing.assert_array_equal(screen.flagged, [False, False, False, False, True])
    reasons = screen.reasons(answers.workers)
    assert reasons.to_dict("list") == {"worker": ["w5"], "gold_answers": [2], "gold_error": [45.0], "threshold": [4.5]}


def test_gold_is_given_as_a_series_or_a_table_and_checked() -> None:
    answers = _small()
    table = pd.DataFrame({"task": ["b", "a"], "truth": [20.0, 10.0]})
    np.testing.assert_array_equal(align_gold(table, answers), align_gold(GOLD, answers))
    np.testing.assert_array_equal(align_gold(GOLD, answers), [10.0, 20.0, np.nan, np.nan])
    for bad, message in (
        (pd.Series({"zz": 1.0}), "no answers, e.g. 'zz'"),
        (pd.Series({"a": np.nan}), "non-numeric or infinite truth"),
        (pd.Series({"a": np.inf}), "non-numeric or infinite truth"),
        (pd.Series(dtype=float), "no tasks"),
        (pd.DataFrame({"task": ["a"], "value": [1.0]}), "missing column(s) truth"),
        (pd.DataFrame({"task": ["a", "a"], "truth": [1.0, 2.0]}), "more than once"),
        ({"a": 1.0}, "must be a pandas Series"),
    ):
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            align_gold(bad, answers)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="needs gold"):
        CRH().fit(answers, gold_screen=True)
    for factor in (0, -1.0, float("nan"), "x"):
        with pytest.raises(InputError, match="factor > 0"):
            CRH().fit(answers, gold=GOLD, gold_screen=factor)  # type: ignore[arg-type]


def test_selected_answers_keep_their_gold() -> None:
    answers = _small().with_gold(align_gold(GOLD, _small()))
    kept = answers.select(answers.task != 0)  # task a's answers dropped: task a goes
    assert list(kept.tasks) == ["b", "c", "d"]
    np.testing.assert_array_equal(kept.gold, [20.0, np.nan, np.nan])
    assert answers.with_values(answers.value + 1).gold is answers.gold
    with pytest.raises(InputError, match="one known value"):
        answers.with_gold(np.zeros(3))


def _every_estimator() -> list[tuple[str, object]]:
    estimators: list[tuple[str, object]] = [(name, make_aggregator(name)) for name in AGGREGATORS]
    estimators += [(f"{name}(crh)", make_defense(name, CRH(), {"n_malicious": 2})) for name in DEFENSES]
    return estimators


@pytest.mark.parametrize(("name", "estimator"), _every_estimator(), ids=[n for n, _ in _every_estimator()])
def test_gold_tasks_keep_their_value_with_every_aggregator_and_defense(name: str, estimator: object) -> None:
    data = make_synthetic(n_tasks=120, n_workers=12, seed=3)
    gold = data.truth.iloc[::10] + 0.25  # known values off the answers' centre, so keeping them shows
    model = estimator.fit(data.answers, gold=gold)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(model.truths_.loc[gold.index].to_numpy(), gold.to_numpy())
    assert model.screened_ is not None and model.gold_record_ is not None
    assert np.isfinite(model.truths_.to_numpy()).all()


def test_gold_anchors_the_weight_step_of_crh() -> None:
    data = make_synthetic(n_tasks=150, n_workers=9, seed=4)
    answers = Answers.from_frame(data.answers)
    model = CRH().fit(answers, gold=data.truth)  # every task gold: the weights are those of the truth
    # Independent computation: CRH's weights w_i = -log(D_i / sum D) with D_i the sum over the worker's
    # answers of (x - truth)^2 / std of the task's answers (ddof 0), plus CRH's tiny guard (1e-10 of the mean
    # per-answer typical distance, negligible here).
    frame = data.answers.merge(data.truth.rename("truth"), left_on="task", right_index=True)
    std = frame.groupby("task")["value"].transform(lambda v: v.std(ddof=0))
    distance = ((frame["value"] - frame["truth"]) ** 2 / std).groupby(frame["worker"]).sum()
    expected = -np.log(distance / distance.sum())
    np.testing.assert_allclose(model.weights_.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(model.truths_.to_numpy(), data.truth.loc[model.truths_.index].to_numpy())


@pytest.mark.parametrize("method", [CRH(), GTM()])
def test_anchored_fits_are_the_same_bits_through_the_compiled_passes(
    method: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_synthetic(n_tasks=300, n_workers=20, seed=6)
    gold = data.truth.iloc[::7]
    fits = []
    for threshold in (kernels.COMPILED_FROM, 0):
        monkeypatch.setattr(kernels, "COMPILED_FROM", threshold)
        fits.append(method.clone().fit(data.answers, gold=gold))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(fits[0].truths_.to_numpy(), fits[1].truths_.to_numpy())
    np.testing.assert_array_equal(fits[0].weights_.to_numpy(), fits[1].weights_.to_numpy())
    unanchored = method.clone().fit(data.answers)  # type: ignore[attr-defined]
    assert not np.array_equal(unanchored.weights_.to_numpy(), fits[0].weights_.to_numpy())


def test_screening_removes_exactly_the_malicious_workers_of_a_poisoned_crowd() -> None:
    data = make_synthetic(n_tasks=400, n_workers=30, seed=8)
    poisoned = MaximumAttack(ThreatModel(n_malicious=6), mode="far").poison(data.answers, data.bounds, random_state=0)
    gold = data.truth.sample(40, random_state=1)
    model = CRH().fit(poisoned.answers, gold=gold, gold_screen=True)
    assert set(model.screened_["worker"]) == set(poisoned.malicious_workers)
    assert model.screened_["removed"].all()
    assert (model.weights_.loc[poisoned.malicious_workers] == 0).all()
    honest = model.weights_.drop(poisoned.malicious_workers)
    assert (honest > 0).all()
    others = data.truth.drop(gold.index)
    clean = mae(CRH().fit(data.answers, gold=gold).truths_.loc[others.index], others)
    screened = mae(model.truths_.loc[others.index], others)
    unscreened = mae(CRH().fit(poisoned.answers, gold=gold).truths_.loc[others.index], others)
    assert screened == pytest.approx(clean, rel=1e-9)  # the honest crowd's own fit with the same gold
    assert unscreened > 2 * screened


def test_on_emotion_anchoring_barely_helps_and_screening_removes_the_attack() -> None:
    # Issue #11's measurement: Emotion poisoned by a far-bound attack against CRH at f = 0.3 (16 attackers),
    # 10 % of the tasks gold. MAE on the other tasks: 56.7 without gold, 51.9 with gold in the weight step
    # only, 11.93 (the clean value) once the workers far off on the gold tasks are screened out.
    data = datasets.load("emotion")
    poisoned = MaximumAttack(ThreatModel(fraction=0.3), mode="far").poison(
        data.answers, data.bounds, CRH(), random_state=0
    )
    gold_tasks = np.random.default_rng(0).choice(data.truth.index.to_numpy(), size=70, replace=False)
    gold = data.truth.loc[gold_tasks]
    others = data.truth.drop(gold_tasks)

    def score(**options: object) -> tuple[float, CRH]:
        model = CRH().fit(poisoned.answers, **options)  # type: ignore[arg-type]
        return mae(model.truths_.loc[others.index], others), model

    plain, _ = score()
    anchored, _ = score(gold=gold)
    screened, model = score(gold=gold, gold_screen=True)
    assert plain == pytest.approx(56.69, abs=0.05)
    assert anchored == pytest.approx(51.86, abs=0.05)
    assert screened == pytest.approx(11.92, abs=0.05)
    assert set(model.screened_["worker"]) == set(poisoned.malicious_workers)


def test_tasks_left_without_answers_by_the_screen_take_the_full_fit() -> None:
    answers = _small()
    lonely = pd.concat([answers.to_frame(), pd.DataFrame({"task": ["e"], "worker": ["w5"], "value": [3.0]})])
    with pytest.warns(GoldScreenWarning, match="1 task"):
        model = CRH().fit(lonely, gold=GOLD, gold_screen=True)
    full = CRH().fit(lonely, gold=GOLD)
    assert model.truths_["e"] == full.truths_["e"]
    assert model.weights_["w5"] == 0.0


# ----------------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    data = make_synthetic(n_tasks=200, n_workers=20, seed=2)
    poisoned = MaximumAttack(ThreatModel(n_malicious=4), mode="far").poison(data.answers, data.bounds, random_state=0)
    paths = {name: tmp_path / f"{name}.csv" for name in ("answers", "gold", "truth")}
    poisoned.answers.to_frame().to_csv(paths["answers"], index=False)
    data.truth.iloc[::10].rename("truth").rename_axis("task").reset_index().to_csv(paths["gold"], index=False)
    data.truth.rename("truth").rename_axis("task").reset_index().to_csv(paths["truth"], index=False)
    return paths


def test_cli_gold_keeps_reports_and_screens(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    import json

    run = make_runner(capsys)
    code, out, _ = run("aggregate", files["answers"], "--gold", files["gold"], "--truth", files["truth"])
    assert code == 0
    assert "20 task(s) kept at their value; 4 worker(s)" in out and "not removed: add --gold-screen" in out
    assert "(gold tasks left out)" in out
    output = files["answers"].parent / "estimates.csv"
    code, out, _ = run("aggregate", files["answers"], "--gold", files["gold"], "--gold-screen", "--json", "-o", output)
    assert code == 0
    summary = json.loads(out)
    assert summary["gold"]["removed"] is True and summary["gold"]["factor"] == 3.0
    assert sorted(summary["gold"]["flagged"]) == [20, 21, 22, 23]  # honest workers are 0-19, attackers 20-23
    estimates = pd.read_csv(output).set_index("task")["value"]
    gold = pd.read_csv(files["gold"]).set_index("task")["truth"]
    np.testing.assert_array_equal(estimates.loc[gold.index].to_numpy(), gold.to_numpy())


def test_cli_gold_errors_are_one_line(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    run = make_runner(capsys)
    bad = files["gold"].parent / "bad.csv"
    bad.write_text("task,value\n1,2\n")
    line = assert_input_error(*run("aggregate", files["answers"], "--gold", bad))
    assert "missing column(s) truth" in line
    bad.write_text("task,truth\nnope,2\n")
    assert "no answers" in assert_input_error(*run("aggregate", files["answers"], "--gold", bad))
    assert "needs --gold" in assert_input_error(*run("aggregate", files["answers"], "--gold-screen"))
    line = assert_input_error(*run("aggregate", files["answers"], "--gold", files["gold"], "--gold-screen", "0"))
    assert "expected a number > 0" in line
    line = assert_input_error(*run("aggregate", files["answers"], "--gold", files["gold"], "--dask", "local"))
    assert "not supported on a Dask cluster" in line
