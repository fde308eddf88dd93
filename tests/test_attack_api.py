"""The attack API's contracts: the threat model, poisoned answers, every registered attack, and ``run_attack``.

Data are tiny synthetic sets and the optimised attack (which compiles a JAX function on every call) runs with
a small budget only a handful of times.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from truthguard import Answers, Bounds, InputError, metrics
from truthguard.aggregators import CRH, Mean
from truthguard.aggregators.base import Aggregator
from truthguard.attacks import (
    ATTACKS,
    Attack,
    AttackProblem,
    BlackBoxAttack,
    MaximumAttack,
    OptimizedAttack,
    PoisonedAnswers,
    RandomAttack,
    ThreatModel,
    make_attack,
)
from truthguard.datasets import Dataset, make_synthetic
from truthguard.experiments import run_attack

N_TASKS, N_WORKERS = 40, 10

#: Every registered attack (the maximum attack in both modes), with budgets small enough for a unit test.
FACTORIES: dict[str, Callable[[ThreatModel], Attack]] = {
    "random": lambda threat: RandomAttack(threat),
    "maximum-max": lambda threat: MaximumAttack(threat, mode="max"),
    "maximum-far": lambda threat: MaximumAttack(threat, mode="far"),
    "optimized": lambda threat: OptimizedAttack(threat, steps=5, restarts=1, line_search_points=3),
    "blackbox": lambda threat: BlackBoxAttack(threat, steps=5, line_search_points=3),
}
CHEAP = [name for name in FACTORIES if name != "optimized"]


class FrameMedian:
    """A foreign aggregator: only ``fit_predict`` on a DataFrame, returning a Series indexed by task."""

    def fit_predict(self, frame: pd.DataFrame) -> pd.Series:
        return frame.groupby("task")["value"].median()


@pytest.fixture(scope="module")
def data() -> Dataset:
    """40 tasks, 10 honest workers answering every task, bounds [-100, 100]."""
    return make_synthetic(n_tasks=N_TASKS, n_workers=N_WORKERS, seed=1)


@pytest.fixture(scope="module")
def task_bounds(data: Dataset) -> Bounds:
    """Per-task bounds, all different, each containing the task's honest answers."""
    tasks = np.sort(data.answers["task"].unique())
    frame = pd.DataFrame(
        {"task": tasks, "low": -100.0 - 10.0 * (tasks % 3), "high": 100.0 + 25.0 * (tasks % 4) + 0.5 * tasks}
    )
    return Bounds.from_frame(frame)


@pytest.fixture(scope="module")
def poisoned_by(data: Dataset, task_bounds: Bounds) -> Callable[[str], tuple[Attack, PoisonedAnswers]]:
    """``poisoned_by(name)``: that attack (fraction 0.2, so k = 3) against CRH with per-task bounds, seed 0.

    Computed once per attack and shared, so the optimised attack compiles as few times as possible.
    """
    cache: dict[str, tuple[Attack, PoisonedAnswers]] = {}

    def get(name: str) -> tuple[Attack, PoisonedAnswers]:
        if name not in cache:
            attack = FACTORIES[name](ThreatModel(fraction=0.2))
            cache[name] = (attack, attack.poison(data.answers, task_bounds, CRH(), random_state=0))
        return cache[name]

    return get


def bounds_of(bounds: Bounds, tasks: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's (low, high), looked up independently of ``Bounds.arrays``."""
    if bounds.is_global:
        return np.full(len(tasks), bounds.low), np.full(len(tasks), bounds.high)
    assert isinstance(bounds.low, pd.Series) and isinstance(bounds.high, pd.Series)
    return bounds.low.loc[tasks].to_numpy(), bounds.high.loc[tasks].to_numpy()


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[["task", "worker", "value"]].astype({"worker": str})
    return rows.sort_values(["task", "worker"]).reset_index(drop=True)


def assert_valid(
    poisoned: PoisonedAnswers,
    honest: pd.DataFrame,
    bounds: Bounds,
    k: int,
    per_worker: int | None = None,
) -> pd.DataFrame:
    """The PoisonedAnswers contract; returns the malicious rows of ``to_frame()``."""
    frame = poisoned.to_frame()
    assert list(frame.columns) == ["task", "worker", "value", "malicious"]
    assert frame["malicious"].dtype == bool
    np.testing.assert_array_equal(frame["malicious"].to_numpy(), poisoned.malicious)
    assert not frame.duplicated(["task", "worker"]).any()
    # Honest answers come back exactly as given: same (task, worker, value) set.
    pd.testing.assert_frame_equal(sorted_rows(frame[~frame["malicious"]]), sorted_rows(honest))
    # k malicious workers, with labels of their own.
    bad = frame[frame["malicious"]]
    assert poisoned.n_malicious == k
    assert len(poisoned.malicious_workers) == k and poisoned.malicious_workers.is_unique
    assert not set(map(str, poisoned.malicious_workers)) & set(map(str, honest["worker"]))
    assert set(bad["worker"]) <= set(poisoned.malicious_workers)
    assert poisoned.answers.n_workers == honest["worker"].nunique() + k
    # Who answers what.
    honest_counts = honest.groupby("task").size()
    if per_worker is None:
        assert len(bad) == k * len(honest_counts)
        counts = bad.groupby("task").size().reindex(honest_counts.index, fill_value=0)
        assert (counts == k).all()
    else:
        per = bad.groupby("worker")["task"].agg(["size", "nunique"])
        assert len(per) == k
        assert (per["size"] == per_worker).all() and (per["nunique"] == per_worker).all()
    # Within bounds.
    low, high = bounds_of(bounds, bad["task"])
    values = bad["value"].to_numpy()
    assert np.all(np.isfinite(values))
    assert np.all(values >= low) and np.all(values <= high)
    bounds.check(poisoned.answers)
    # Per-task malicious share.
    malicious_per_task = bad.groupby("task").size().reindex(honest_counts.index, fill_value=0)
    expected = malicious_per_task / (honest_counts + malicious_per_task)
    share = poisoned.malicious_answer_share()
    np.testing.assert_allclose(share.loc[expected.index].to_numpy(), expected.to_numpy(), rtol=1e-12)
    return bad


# ------------------------------------------------------------------ ThreatModel


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fraction": 1.0}, r"ThreatModel fraction must be a number in \[0, 0\.99\]"),
        ({"fraction": 1.5}, r"ThreatModel fraction must be a number in \[0, 0\.99\]"),
        ({"fraction": -0.1}, r"ThreatModel fraction must be a number in \[0, 0\.99\]"),
        ({"fraction": float("nan")}, r"ThreatModel fraction must be a number in \[0, 0\.99\]"),
        ({"fraction": "0.1"}, r"fraction must be a number"),
        ({"fraction": None}, r"fraction must be a number"),
        ({"fraction": True}, r"fraction must be a number"),
        ({"n_malicious": -1}, r"n_malicious must be an integer >= 0 or None; got -1"),
        ({"n_malicious": True}, r"n_malicious must be an integer >= 0 or None; got True"),
        ({"n_malicious": 2.0}, r"n_malicious must be an integer >= 0"),
        ({"tasks_per_worker": 0}, r"tasks_per_worker must be a positive integer, 'mean' or None; got 0"),
        ({"tasks_per_worker": "some"}, r"tasks_per_worker must be a positive integer.*'some'"),
        ({"tasks_per_worker": 2.5}, r"tasks_per_worker must be a positive integer.*2\.5"),
        ({"tasks_per_worker": True}, r"tasks_per_worker must be a positive integer"),
        ({"knowledge": "omniscient"}, r"unknown ThreatModel knowledge 'omniscient'; choose one of full, partial"),
        ({"knowledge": "partial", "known_fraction": 0}, r"known_fraction must be a number in \(0, 1\]; got 0"),
        ({"knowledge": "partial", "known_fraction": 1.5}, r"known_fraction must be a number in \(0, 1\]; got 1\.5"),
        ({"known_fraction": -0.5}, r"known_fraction must be a number in \(0, 1\]"),
        ({"goal": "chaos"}, r"unknown ThreatModel goal 'chaos'; choose one of deviation, targeted"),
        ({"goal": "targeted"}, r"the targeted goal needs targets"),
        ({"goal": "targeted", "targets": pd.Series([], dtype=float)}, r"the targeted goal needs targets"),
        ({"targets": pd.Series({1: 5.0})}, r"targets are only used with goal='targeted'"),
        ({"goal": "deviation", "targets": pd.Series({1: 5.0})}, r"targets are only used with goal='targeted'"),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else None,
)
def test_threat_model_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        ThreatModel(**kwargs)


@pytest.mark.parametrize(
    ("fraction", "n_honest", "expected"),
    [
        (0.1, 38, 4),  # 4.22
        (0.2, 10, 3),  # 2.5 exactly: half rounds up
        (0.3, 9, 4),  # 3.86
        (0.2, 40, 10),  # 10 exactly
        (0.25, 6, 2),  # 2 exactly
        (0.5, 3, 3),  # 3 exactly
        (0.2, 2, 1),  # 0.5: half rounds up
        (0.1, 4, 0),  # 0.44
        (0.0, 50, 0),
    ],
)
def test_n_malicious_for_fraction(fraction: float, n_honest: int, expected: int) -> None:
    assert ThreatModel(fraction=fraction).n_malicious_for(n_honest) == expected


@pytest.mark.parametrize(
    ("fraction", "n_honest", "expected"),
    [
        (0.2, 86, 22),  # 0.2 * 86 / 0.8 = 21.5 exactly
        (0.6, 1, 2),  # 0.6 / 0.4 = 1.5 exactly
        (0.6, 3, 5),  # 4.5 exactly
    ],
)
def test_n_malicious_for_rounds_exact_halves_up(fraction: float, n_honest: int, expected: int) -> None:
    """k = round(f N / (1 - f)) with halves rounding up, as in the docstring, also when f N / (1 - f) is an exact
    half that floating point computes a hair below it (0.2 * 86 / 0.8 == 21.499999999999996)."""
    assert ThreatModel(fraction=fraction).n_malicious_for(n_honest) == expected


def test_n_malicious_overrides_fraction() -> None:
    assert ThreatModel(fraction=0.5, n_malicious=2).n_malicious_for(100) == 2
    assert ThreatModel(n_malicious=0).n_malicious_for(100) == 0
    assert ThreatModel(n_malicious=7).n_malicious_for(3) == 7
    assert ThreatModel(fraction=0.5, n_malicious=2).describe()["fraction"] is None


@pytest.mark.parametrize("name", CHEAP)
@pytest.mark.parametrize("threat", [ThreatModel(fraction=0), ThreatModel(n_malicious=0)], ids=["f=0", "k=0"])
def test_no_malicious_workers(data: Dataset, name: str, threat: ThreatModel) -> None:
    poisoned = FACTORIES[name](threat).poison(data.answers, data.bounds, CRH(), random_state=0)
    assert poisoned.n_malicious == 0
    assert not poisoned.malicious.any()
    frame = poisoned.to_frame()
    assert len(frame) == len(data.answers)
    pd.testing.assert_frame_equal(sorted_rows(frame), sorted_rows(data.answers))
    assert (poisoned.malicious_answer_share() == 0).all()


# ------------------------------------------------------------------ PoisonedAnswers, for every attack


def test_factories_cover_the_registry() -> None:
    assert {name.split("-")[0] for name in FACTORIES} == set(ATTACKS)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_poisoned_answers_contract_per_task_bounds(
    data: Dataset, task_bounds: Bounds, poisoned_by: Callable[[str], tuple[Attack, PoisonedAnswers]], name: str
) -> None:
    attack, poisoned = poisoned_by(name)
    bad = assert_valid(poisoned, data.answers, task_bounds, k=3)
    assert math.isfinite(attack.objective_)
    assert attack.seconds_ >= 0
    assert poisoned.honest.n_answers == len(data.answers)
    if name == "maximum-max":  # the largest allowed value of each task, per-task bounds included
        _, high = bounds_of(task_bounds, bad["task"])
        np.testing.assert_array_equal(bad["value"].to_numpy(), high)
    if name == "maximum-far":  # always one of the task's two bounds
        low, high = bounds_of(task_bounds, bad["task"])
        assert np.all((bad["value"].to_numpy() == low) | (bad["value"].to_numpy() == high))


@pytest.mark.parametrize("name", CHEAP)
@pytest.mark.parametrize(("threat", "k"), [(ThreatModel(fraction=0.1), 1), (ThreatModel(n_malicious=4), 4)])
def test_poisoned_answers_contract_global_bounds(data: Dataset, name: str, threat: ThreatModel, k: int) -> None:
    poisoned = FACTORIES[name](threat).poison(data.answers, data.bounds, CRH(), random_state=5)
    assert_valid(poisoned, data.answers, data.bounds, k=k)
    # Integer worker ids (as here) continue their sequence, so the worker column keeps one type.
    top = int(pd.Index(data.answers["worker"]).max())
    assert list(poisoned.malicious_workers) == list(range(top + 1, top + k + 1))


def test_text_worker_ids_get_text_malicious_labels(data: Dataset) -> None:
    named = data.answers.assign(worker="w" + data.answers["worker"].astype(str))
    poisoned = RandomAttack(ThreatModel(n_malicious=2)).poison(named, data.bounds, random_state=0)
    assert list(poisoned.malicious_workers) == ["malicious-1", "malicious-2"]


def test_poison_accepts_answers_object(data: Dataset) -> None:
    honest = Answers.from_frame(data.answers)
    from_frame = RandomAttack(ThreatModel(n_malicious=2)).poison(data.answers, data.bounds, random_state=1)
    from_answers = RandomAttack(ThreatModel(n_malicious=2)).poison(honest, data.bounds, random_state=1)
    assert from_answers.to_frame().to_csv() == from_frame.to_frame().to_csv()
    assert from_answers.honest is honest


def test_malicious_label_clash(data: Dataset) -> None:
    honest = data.answers.assign(
        worker=data.answers["worker"].map(lambda w: {0: "malicious-1", 1: "malicious-2"}.get(w, f"w{w}"))
    )
    poisoned = MaximumAttack(ThreatModel(n_malicious=2)).poison(honest, data.bounds, random_state=0)
    bad = assert_valid(poisoned, honest, data.bounds, k=2)
    frame = poisoned.to_frame()
    # The honest "malicious-1" keeps its answers, unflagged, and no malicious worker shares its label.
    mine = frame[frame["worker"] == "malicious-1"]
    assert len(mine) == N_TASKS and not mine["malicious"].any()
    pd.testing.assert_frame_equal(
        sorted_rows(mine), sorted_rows(honest[honest["worker"] == "malicious-1"]), check_dtype=False
    )
    assert not {"malicious-1", "malicious-2"} & set(poisoned.malicious_workers)
    assert set(bad["worker"]) == set(poisoned.malicious_workers)
    assert (bad["value"] == 100.0).all()


# ------------------------------------------------------------------ tasks per worker


@pytest.mark.parametrize("name", CHEAP)
def test_tasks_per_worker(data: Dataset, name: str) -> None:
    threat = ThreatModel(n_malicious=3, tasks_per_worker=5)
    poisoned = FACTORIES[name](threat).poison(data.answers, data.bounds, CRH(), random_state=2)
    bad = assert_valid(poisoned, data.answers, data.bounds, k=3, per_worker=5)
    assert len(bad) == 15


def test_tasks_per_worker_mean_rounds_up() -> None:
    sparse = make_synthetic(n_tasks=30, n_workers=11, answers_per_task=5, seed=4)
    m = round(len(sparse.answers) / sparse.answers["worker"].nunique())  # 150 / 11 = 13.6 -> 14
    assert m == 14
    poisoned = RandomAttack(ThreatModel(n_malicious=4, tasks_per_worker="mean")).poison(
        sparse.answers, sparse.bounds, random_state=0
    )
    assert_valid(poisoned, sparse.answers, sparse.bounds, k=4, per_worker=m)


def test_tasks_per_worker_mean_rounds_down() -> None:
    sparse = make_synthetic(n_tasks=40, n_workers=12, answers_per_task=4, seed=4)
    assert len(sparse.answers) / sparse.answers["worker"].nunique() == pytest.approx(13.333, abs=1e-3)
    poisoned = MaximumAttack(ThreatModel(n_malicious=2, tasks_per_worker="mean")).poison(
        sparse.answers, sparse.bounds, random_state=3
    )
    assert_valid(poisoned, sparse.answers, sparse.bounds, k=2, per_worker=13)


def test_tasks_per_worker_all_tasks(data: Dataset) -> None:
    threat = ThreatModel(n_malicious=2, tasks_per_worker=N_TASKS)
    poisoned = RandomAttack(threat).poison(data.answers, data.bounds, random_state=0)
    assert_valid(poisoned, data.answers, data.bounds, k=2, per_worker=N_TASKS)


def test_tasks_per_worker_more_than_tasks(data: Dataset) -> None:
    threat = ThreatModel(n_malicious=2, tasks_per_worker=N_TASKS + 1)
    with pytest.raises(InputError, match=rf"tasks_per_worker={N_TASKS + 1} exceeds the {N_TASKS} tasks"):
        RandomAttack(threat).poison(data.answers, data.bounds, random_state=0)


def test_tasks_per_worker_draws_depend_on_seed(data: Dataset) -> None:
    threat = ThreatModel(n_malicious=3, tasks_per_worker=4)

    def tasks(seed: int) -> list[tuple[str, int]]:
        frame = MaximumAttack(threat).poison(data.answers, data.bounds, random_state=seed).to_frame()
        bad = frame[frame["malicious"]]
        return sorted(zip(bad["worker"], bad["task"], strict=True))

    assert tasks(0) == tasks(0)
    assert tasks(0) != tasks(1)


# ------------------------------------------------------------------ determinism


@pytest.mark.parametrize("name", list(FACTORIES))
def test_same_seed_same_poisoned_answers(
    data: Dataset, task_bounds: Bounds, poisoned_by: Callable[[str], tuple[Attack, PoisonedAnswers]], name: str
) -> None:
    first_attack, first = poisoned_by(name)
    attack = FACTORIES[name](ThreatModel(fraction=0.2))
    again = attack.poison(data.answers, task_bounds, CRH(), random_state=0)
    assert again.to_frame().to_csv() == first.to_frame().to_csv()
    assert attack.objective_ == first_attack.objective_


@pytest.mark.parametrize("name", CHEAP)
def test_same_generator_state_same_answers(data: Dataset, name: str) -> None:
    threat = ThreatModel(n_malicious=2, tasks_per_worker=7)
    runs = [
        FACTORIES[name](threat).poison(data.answers, data.bounds, CRH(), random_state=np.random.default_rng(11))
        for _ in range(2)
    ]
    assert runs[0].to_frame().to_csv() == runs[1].to_frame().to_csv()


def test_random_attack_seeds_differ(data: Dataset) -> None:
    attack = RandomAttack(ThreatModel(n_malicious=2))
    first = attack.poison(data.answers, data.bounds, random_state=0).to_frame()
    second = attack.poison(data.answers, data.bounds, random_state=1).to_frame()
    assert first.to_csv() != second.to_csv()
    assert not np.array_equal(first.loc[first["malicious"], "value"], second.loc[second["malicious"], "value"])
    pd.testing.assert_frame_equal(first[~first["malicious"]], second[~second["malicious"]])


# ------------------------------------------------------------------ partial knowledge


@pytest.fixture(scope="module")
def sparse() -> Dataset:
    """30 tasks, 10 workers, only 2 answers per task: a partial attacker misses some tasks entirely."""
    return make_synthetic(n_tasks=30, n_workers=10, answers_per_task=2, seed=3)


PARTIAL = ThreatModel(n_malicious=2, knowledge="partial", known_fraction=0.3)


def unknown_tasks(sparse: Dataset, seed: int) -> set[Any]:
    """Tasks no known honest worker answered, checked against an independent reading of the problem."""
    honest = Answers.from_frame(sparse.answers)
    problem = AttackProblem.build(honest, sparse.bounds, PARTIAL, None, np.random.default_rng(seed))
    known_workers = set(problem.view_honest.workers)
    assert len(known_workers) <= max(1, round(0.3 * 10))
    assert known_workers <= set(honest.workers)
    answered_by_known = set(sparse.answers.loc[sparse.answers["worker"].isin(known_workers), "task"])
    assert set(problem.view.tasks) == answered_by_known
    # The view holds every known worker's answers on those tasks, plus the malicious slots there.
    view = problem.view_honest.to_frame()
    expected = sparse.answers[sparse.answers["worker"].isin(known_workers)]
    pd.testing.assert_frame_equal(sorted_rows(view), sorted_rows(expected))
    assert problem.known_slots.sum() == 2 * len(answered_by_known)
    unknown = set(honest.tasks) - answered_by_known
    assert unknown, "the fixture should leave the attacker some unknown tasks"
    return unknown


@pytest.mark.parametrize("name", CHEAP)
def test_partial_knowledge_is_valid(sparse: Dataset, name: str) -> None:
    poisoned = FACTORIES[name](PARTIAL).poison(sparse.answers, sparse.bounds, CRH(), random_state=0)
    assert_valid(poisoned, sparse.answers, sparse.bounds, k=2)


@pytest.mark.parametrize("name", ["maximum-max", "maximum-far", "blackbox"])
def test_partial_knowledge_unknown_tasks_get_upper_bound(sparse: Dataset, name: str) -> None:
    unknown = unknown_tasks(sparse, seed=0)
    poisoned = FACTORIES[name](PARTIAL).poison(sparse.answers, sparse.bounds, CRH(), random_state=0)
    frame = poisoned.to_frame()
    on_unknown = frame[frame["malicious"] & frame["task"].isin(unknown)]
    assert len(on_unknown) == 2 * len(unknown)
    assert (on_unknown["value"] == sparse.bounds.high).all()


def test_partial_knowledge_far_uses_only_known_answers(sparse: Dataset) -> None:
    """The far bound is chosen from the known workers' median, not from all honest answers."""
    honest = Answers.from_frame(sparse.answers)
    problem = AttackProblem.build(honest, sparse.bounds, PARTIAL, None, np.random.default_rng(0))
    reference = problem.view_honest.to_frame().groupby("task")["value"].median()
    poisoned = MaximumAttack(PARTIAL, mode="far").poison(sparse.answers, sparse.bounds, random_state=0)
    frame = poisoned.to_frame()
    bad = frame[frame["malicious"] & frame["task"].isin(reference.index)]
    expected = np.where(reference.loc[bad["task"]].to_numpy() < 0, 100.0, -100.0)
    np.testing.assert_array_equal(bad["value"].to_numpy(), expected)


def test_partial_knowledge_of_everyone_equals_full(data: Dataset) -> None:
    full = MaximumAttack(ThreatModel(n_malicious=2), mode="far").poison(data.answers, data.bounds, random_state=0)
    partial = MaximumAttack(ThreatModel(n_malicious=2, knowledge="partial", known_fraction=1.0), mode="far").poison(
        data.answers, data.bounds, random_state=0
    )
    assert partial.to_frame().to_csv() == full.to_frame().to_csv()


# ------------------------------------------------------------------ aggregators under attack


def test_optimized_needs_an_aggregator(data: Dataset) -> None:
    with pytest.raises(InputError, match=r"OptimizedAttack needs the aggregator under attack"):
        OptimizedAttack(ThreatModel(n_malicious=1)).poison(data.answers, data.bounds, aggregator=None)


def test_blackbox_needs_an_aggregator(data: Dataset) -> None:
    with pytest.raises(InputError, match=r"BlackBoxAttack needs the aggregator under attack"):
        BlackBoxAttack(ThreatModel(n_malicious=1)).poison(data.answers, data.bounds)


def test_optimized_refuses_foreign_aggregators(data: Dataset) -> None:
    attack = OptimizedAttack(ThreatModel(n_malicious=1), steps=5, restarts=1, line_search_points=2)
    with pytest.raises(InputError, match=r"black-box attack"):
        attack.poison(data.answers, data.bounds, FrameMedian(), random_state=0)


def test_baselines_without_aggregator_have_nan_objective(data: Dataset) -> None:
    attack = RandomAttack(ThreatModel(n_malicious=1))
    attack.poison(data.answers, data.bounds, random_state=0)
    assert math.isnan(attack.objective_)


def test_blackbox_attacks_foreign_aggregators(data: Dataset) -> None:
    threat = ThreatModel(fraction=0.2)
    blackbox = BlackBoxAttack(threat, steps=5, line_search_points=3)
    poisoned = blackbox.poison(data.answers, data.bounds, FrameMedian(), random_state=4)
    assert_valid(poisoned, data.answers, data.bounds, k=3)
    random = RandomAttack(threat)
    random.poison(data.answers, data.bounds, FrameMedian(), random_state=4)
    assert math.isfinite(blackbox.objective_) and math.isfinite(random.objective_)
    assert blackbox.objective_ >= random.objective_
    # The objective is the deviation of the foreign aggregator's estimate, recomputed independently.
    before = FrameMedian().fit_predict(data.answers)
    after = FrameMedian().fit_predict(poisoned.to_frame()[["task", "worker", "value"]])
    assert blackbox.objective_ == pytest.approx(float((after - before).abs().sum()), rel=1e-9)


def test_foreign_aggregator_must_return_a_series(data: Dataset) -> None:
    class Listy:
        def fit_predict(self, frame: pd.DataFrame) -> list[float]:
            return [0.0] * frame["task"].nunique()

    with pytest.raises(InputError, match=r"Listy\.fit_predict must return a Series indexed by task"):
        BlackBoxAttack(ThreatModel(n_malicious=1), steps=1).poison(data.answers, data.bounds, Listy())


# ------------------------------------------------------------------ make_attack and argument checks


def test_make_attack_builds_each_registered_attack() -> None:
    threat = ThreatModel(n_malicious=2)
    for name, cls in ATTACKS.items():
        attack = make_attack(name, threat)
        assert type(attack) is cls and attack.threat is threat and attack.name == name
    assert make_attack("MAXIMUM", mode="far").mode == "far"  # type: ignore[attr-defined]
    assert make_attack("optimized", steps=3, restarts=1).get_params()["steps"] == 3


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, r"unknown attack 'nope'; choose one of optimized, blackbox, random, maximum"),
        ("random", {"steps": 3}, r"RandomAttack has no parameter 'steps'"),
        ("maximum", {"colour": "red"}, r"MaximumAttack has no parameter 'colour'; valid parameters: threat, mode"),
        ("optimized", {"mode": "far"}, r"OptimizedAttack has no parameter 'mode'"),
        ("optimized", {"steps": -1}, r"steps must be an integer >= 0; got -1"),
        ("optimized", {"steps": 2.5}, r"steps must be an integer >= 0"),
        ("optimized", {"restarts": True}, r"restarts must be an integer >= 0"),
        ("optimized", {"learning_rate": 0}, r"OptimizedAttack learning_rate must be a number in \(0, 1\]; got 0"),
        ("optimized", {"eval_every": 0}, r"eval_every must be a positive integer"),
        ("blackbox", {"learning_rate": 0}, r"learning_rate must be a number in \(0, 1\]"),
        ("blackbox", {"perturbation": 2}, r"perturbation must be a number in \(0, 1\]"),
        ("blackbox", {"line_search_points": -2}, r"line_search_points must be an integer >= 0"),
        ("maximum", {"mode": "min"}, r"unknown MaximumAttack mode 'min'; choose one of max, far"),
        ("random", {"threat": "everyone"}, r"the threat model is not an attack parameter"),
    ],
)
def test_make_attack_errors(name: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_attack(name, **params)


def test_invalid_parameters_set_directly_fail_at_poison(data: Dataset) -> None:
    with pytest.raises(InputError, match=r"unknown MaximumAttack mode 'min'"):
        MaximumAttack(ThreatModel(n_malicious=1), mode="min").poison(data.answers, data.bounds)
    with pytest.raises(InputError, match=r"threat must be a ThreatModel or None; got \{'fraction': 0\.1\}"):
        RandomAttack({"fraction": 0.1}).poison(data.answers, data.bounds)  # type: ignore[arg-type]


@pytest.mark.parametrize("bounds", [(-100, 100), None, [-100.0, 100.0]], ids=["tuple", "none", "list"])
def test_bounds_must_be_bounds(data: Dataset, bounds: Any) -> None:
    with pytest.raises(InputError, match=r"bounds must be a truthguard Bounds"):
        RandomAttack(ThreatModel(n_malicious=1)).poison(data.answers, bounds)


@pytest.mark.parametrize("name", CHEAP)
def test_answers_outside_bounds(data: Dataset, name: str) -> None:
    with pytest.raises(InputError, match=r"answer\(s\) lie outside their bounds"):
        FACTORIES[name](ThreatModel(n_malicious=1)).poison(data.answers, Bounds(-50, 50), CRH(), random_state=0)


def test_per_task_bounds_missing_a_task(data: Dataset) -> None:
    frame = pd.DataFrame({"task": [0, 1], "low": [-100.0, -100.0], "high": [100.0, 100.0]})
    with pytest.raises(InputError, match=r"bounds table has no row for 38 task\(s\)"):
        MaximumAttack(ThreatModel(n_malicious=1)).poison(data.answers, Bounds.from_frame(frame))


# ------------------------------------------------------------------ run_attack


def independent_fit(aggregator: Aggregator, frame: pd.DataFrame) -> pd.Series:
    return aggregator.clone().fit(frame[["task", "worker", "value"]].copy()).truths_


@pytest.mark.parametrize("aggregator", [Mean(), CRH()], ids=["mean", "crh"])
@pytest.mark.parametrize("name", ["maximum-max", "random"])
def test_run_attack_report(data: Dataset, aggregator: Aggregator, name: str) -> None:
    attack = FACTORIES[name](ThreatModel(fraction=0.2))
    report, poisoned = run_attack(data.answers, data.bounds, aggregator, attack, data.truth, random_state=0)
    k = 3
    assert report.attack == attack.name and report.aggregator == aggregator.name
    assert report.n_honest_workers == N_WORKERS
    assert report.n_malicious == poisoned.n_malicious == k
    assert report.n_answers == (N_WORKERS + k) * N_TASKS == poisoned.answers.n_answers
    assert report.malicious_answer_share == pytest.approx(k * N_TASKS / report.n_answers, rel=1e-12)
    assert report.task_share_mean == pytest.approx(k / (N_WORKERS + k), rel=1e-12)
    assert report.task_share_max == pytest.approx(k / (N_WORKERS + k), rel=1e-12)
    assert report.threat == ThreatModel(fraction=0.2).describe()
    assert report.objective == attack.objective_
    assert report.seconds >= 0

    before = independent_fit(aggregator, data.answers)
    after = independent_fit(aggregator, poisoned.to_frame())
    assert report.deviation == pytest.approx(float((after - before.loc[after.index]).abs().mean()), rel=1e-9)
    assert report.deviation > 0
    assert report.before is not None and report.after is not None
    assert report.before.mae == pytest.approx(metrics.mae(before, data.truth), rel=1e-9)
    assert report.before.rmse == pytest.approx(metrics.rmse(before, data.truth), rel=1e-9)
    assert report.after.mae == pytest.approx(metrics.mae(after, data.truth), rel=1e-9)
    assert report.after.rmse == pytest.approx(metrics.rmse(after, data.truth), rel=1e-9)
    assert report.before.n == report.after.n == N_TASKS
    assert report.relative_increase == pytest.approx((report.after.mae - report.before.mae) / report.before.mae)
    if isinstance(aggregator, Mean):
        assert report.malicious_weight_share == pytest.approx(k / (N_WORKERS + k), rel=1e-12)
    else:
        assert 0 < report.malicious_weight_share < 1
        weights = aggregator.clone().fit(poisoned.answers).weights_
        expected = weights.loc[list(poisoned.malicious_workers)].sum() / weights.sum()
        assert report.malicious_weight_share == pytest.approx(expected, rel=1e-12)

    payload = report.to_dict()
    text = json.dumps(payload)
    assert json.loads(text)["before"] == {"mae": report.before.mae, "rmse": report.before.rmse, "n": N_TASKS}
    assert set(payload) >= {"before", "after", "deviation", "n_malicious", "malicious_weight_share", "seconds"}


def test_run_attack_mean_with_tasks_per_worker(data: Dataset) -> None:
    attack = RandomAttack(ThreatModel(n_malicious=4, tasks_per_worker=10))
    report, poisoned = run_attack(data.answers, data.bounds, Mean(), attack, data.truth, random_state=2)
    assert report.n_answers == N_WORKERS * N_TASKS + 40
    assert report.malicious_answer_share == pytest.approx(40 / report.n_answers)
    shares = poisoned.malicious_answer_share()
    assert report.task_share_mean == pytest.approx(shares.mean())
    assert report.task_share_max == pytest.approx(shares.max())
    assert report.task_share_max <= 4 / 14 + 1e-12
    assert report.malicious_weight_share == pytest.approx(4 / 14)


def test_run_attack_without_truth(data: Dataset) -> None:
    attack = MaximumAttack(ThreatModel(n_malicious=2))
    for truth in (None, pd.Series([], dtype=float)):
        report, _ = run_attack(data.answers, data.bounds, CRH(), attack, truth, random_state=0)
        assert report.before is None and report.after is None and report.relative_increase is None
        assert report.deviation > 0
        payload = json.loads(json.dumps(report.to_dict()))
        assert payload["before"] is None and payload["after"] is None and payload["relative_increase"] is None


def test_run_attack_report_is_reproducible(data: Dataset) -> None:
    def figures() -> dict[str, Any]:
        report, _ = run_attack(
            data.answers, data.bounds, CRH(), RandomAttack(ThreatModel(fraction=0.2)), data.truth, random_state=9
        )
        return {k: v for k, v in report.to_dict().items() if k != "seconds"}

    assert figures() == figures()


# ------------------------------------------------------------------ targeted goal


@pytest.fixture(scope="module")
def targeted(data: Dataset) -> tuple[ThreatModel, pd.Series, pd.Series]:
    """A targeted threat on 4 tasks, each target on the far side of the range from CRH's clean estimate."""
    before = CRH().fit(data.answers).truths_
    tasks = before.index[:4]
    targets = pd.Series(np.where(before.loc[tasks] > 0, -90.0, 90.0), index=tasks, name="target")
    return ThreatModel(fraction=0.2, goal="targeted", targets=targets), targets, before


@pytest.mark.parametrize("name", ["maximum-far", "random", "blackbox"])
def test_targeted_baselines_are_valid(
    data: Dataset, targeted: tuple[ThreatModel, pd.Series, pd.Series], name: str
) -> None:
    threat, targets, _ = targeted
    attack = FACTORIES[name](threat)
    poisoned = attack.poison(data.answers, data.bounds, CRH(), random_state=0)
    bad = assert_valid(poisoned, data.answers, data.bounds, k=3)
    after = CRH().fit(poisoned.answers).truths_
    # The objective is minus the total distance to the targets.
    assert attack.objective_ == pytest.approx(-float((after.loc[targets.index] - targets).abs().sum()), rel=1e-9)
    if name == "maximum-far":  # on targeted tasks, the bound on the target's side
        aimed = bad[bad["task"].isin(targets.index)]
        expected = np.where(targets.loc[aimed["task"]].to_numpy() > 0, 100.0, -100.0)
        np.testing.assert_array_equal(aimed["value"].to_numpy(), expected)


def test_targeted_optimized_pulls_towards_targets(
    data: Dataset, targeted: tuple[ThreatModel, pd.Series, pd.Series]
) -> None:
    threat, targets, before = targeted
    attack = OptimizedAttack(threat, steps=5, restarts=1, line_search_points=3)
    poisoned = attack.poison(data.answers, data.bounds, CRH(), random_state=0)
    assert_valid(poisoned, data.answers, data.bounds, k=3)
    after = CRH().fit(poisoned.answers).truths_
    distance_before = (before.loc[targets.index] - targets).abs()
    distance_after = (after.loc[targets.index] - targets).abs()
    assert (distance_after < distance_before).all(), (distance_before, distance_after)
    assert attack.objective_ == pytest.approx(-float(distance_after.sum()), rel=1e-9)
    far = MaximumAttack(threat, mode="far")
    far.poison(data.answers, data.bounds, CRH(), random_state=0)
    assert attack.objective_ >= far.objective_  # never weaker than the baselines


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (pd.Series({0: 5.0, 999: 1.0}), r"targets name 1 task\(s\) without answers, e\.g\. 999"),
    ],
    ids=["unknown-task"],
)
def test_targeted_bad_targets(data: Dataset, targets: pd.Series, message: str) -> None:
    threat = ThreatModel(n_malicious=1, goal="targeted", targets=targets)
    with pytest.raises(InputError, match=message):
        MaximumAttack(threat, mode="far").poison(data.answers, data.bounds, random_state=0)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (pd.Series({0: np.inf}), r"targets must be finite numbers; task 0 has inf"),
        (pd.Series({0: "high"}), r"targets must be finite numbers; task 0 has 'high'"),
        (pd.Series([1.0, 2.0], index=[0, 0]), r"targets give task 0 more than once"),
        ([1, 2, 3], r"targets must be a pandas Series of target values indexed by task or None; got \[1, 2, 3\]"),
        ({0: 5.0}, r"targets must be a pandas Series"),
    ],
    ids=["infinite", "text", "repeated", "list", "dict"],
)
def test_bad_targets_are_refused_when_the_threat_model_is_built(targets: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        ThreatModel(n_malicious=1, goal="targeted", targets=targets)


def test_worker_mask_marks_exactly_the_malicious_workers(data: Dataset) -> None:
    poisoned = RandomAttack(ThreatModel(n_malicious=3)).poison(data.answers, data.bounds, random_state=0)
    mask = poisoned.worker_is_malicious
    assert list(mask[mask].index) == list(poisoned.malicious_workers)
    assert int((~mask).sum()) == poisoned.honest.n_workers


# ------------------------------------------------------------------ hardening: API errors


@pytest.mark.parametrize(
    ("aggregator", "message"),
    [
        ("crh", r"aggregator must be an aggregator object, e\.g\. CRH\(\); got the text 'crh' "
                r"\(truthguard\.aggregators\.make_aggregator\('crh'\) builds one by name\)"),
        (CRH, r"aggregator must be an instance, e\.g\. CRH\(\); got the class itself"),
        (3, r"aggregator must be a TruthGuard aggregator or an object with fit_predict, e\.g\. CRH\(\); got int"),
    ],
    ids=["name", "class", "number"],
)  # fmt: skip
def test_poison_refuses_what_is_not_an_aggregator(data: Dataset, aggregator: Any, message: str) -> None:
    for attack in (OptimizedAttack(ThreatModel(n_malicious=1)), RandomAttack(ThreatModel(n_malicious=1))):
        with pytest.raises(InputError, match=message):
            attack.poison(data.answers, data.bounds, aggregator)


def test_run_attack_needs_a_truthguard_aggregator_and_an_attack(data: Dataset) -> None:
    from truthguard.experiments import run_attack

    with pytest.raises(InputError, match=r"got the class itself"):
        run_attack(data.answers, data.bounds, CRH, RandomAttack())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"attack must be an attack object, e\.g\. OptimizedAttack\(\); got str"):
        run_attack(data.answers, data.bounds, CRH(), "random")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3", np.float64(2.0)])
def test_random_state_must_be_a_seed_or_a_generator(data: Dataset, seed: Any) -> None:
    """``random_state=-1`` and ``1.5`` ended in NumPy tracebacks."""
    with pytest.raises(InputError, match=r"random_state must be an integer >= 0, a numpy Generator or None; got"):
        RandomAttack(ThreatModel(n_malicious=1)).poison(data.answers, data.bounds, random_state=seed)


def test_random_state_accepts_numpy_integers_and_generators(data: Dataset) -> None:
    attack = RandomAttack(ThreatModel(n_malicious=1))
    a = attack.poison(data.answers, data.bounds, random_state=np.int64(4)).to_frame()
    b = attack.poison(data.answers, data.bounds, random_state=np.random.default_rng(4)).to_frame()
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize(
    ("workers", "expected"),
    [
        ([1, 5, 3], [6, 7]),
        ([2**63 - 1, 0], [1, 2]),  # continuing would overflow int64: the smallest unused integers instead
        ([1.5, 2.0], [3.0, 4.0]),  # float ids stay floats (one Parquet type)
        ([1e300, 0.0], [1.0, 2.0]),  # beyond 2**53 floats are not exact integers
        (["a", "malicious-1"], ["_malicious-1", "_malicious-2"]),
    ],
)
def test_malicious_worker_ids(workers: list[Any], expected: list[Any]) -> None:
    honest = pd.DataFrame({"task": [1] * len(workers), "worker": workers, "value": 1.0})
    poisoned = RandomAttack(ThreatModel(n_malicious=2)).poison(honest, Bounds(0, 10), random_state=0)
    assert list(poisoned.malicious_workers) == expected
    assert poisoned.answers.workers.dtype == pd.Index(workers).dtype


def test_float_worker_ids_round_trip_through_parquet(tmp_path: Path) -> None:
    """Float worker ids with an attack written to Parquet: ArrowInvalid (mixed floats and 'malicious-1')."""
    from truthguard import read_answers, write_table

    honest = pd.DataFrame({"task": [1, 1, 2], "worker": [0.5, 1.5, 0.5], "value": [1.0, 2.0, 3.0]})
    poisoned = MaximumAttack(ThreatModel(n_malicious=1)).poison(honest, Bounds(0, 10), random_state=0)
    write_table(poisoned.to_frame(), tmp_path / "p.parquet")
    again = read_answers(tmp_path / "p.parquet")
    assert again.workers.tolist() == [0.5, 1.5, 2.0]
