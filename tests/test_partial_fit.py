"""Incremental updates (issue #11): partial_fit adds answers and continues; it ends where a fit on all ends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from truthguard import Answers
from truthguard.aggregators import CATD, CRH, GTM, LFCN, Mean, Median
from truthguard.datasets import make_synthetic
from truthguard.defenses import make_defense
from truthguard.errors import InputError


@pytest.fixture(scope="module")
def answers() -> pd.DataFrame:
    return make_synthetic(n_tasks=1500, n_workers=40, density=0.25, seed=11).answers


def _splits(frame: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    late = frame["task"].isin(np.sort(frame["task"].unique())[-150:])
    newcomers = frame["worker"].isin(np.sort(frame["worker"].unique())[-4:])
    shuffled = frame.sample(frac=1.0, random_state=0)
    return {
        "new tasks": (frame[~late], frame[late]),
        "new workers": (frame[~newcomers], frame[newcomers]),
        "more answers everywhere": (shuffled.iloc[: len(frame) * 9 // 10], shuffled.iloc[len(frame) * 9 // 10 :]),
    }


WARM = {
    "crh": lambda: CRH(tol=1e-10),
    "gtm": lambda: GTM(tol=1e-10),
    "mwa": lambda: make_defense("mwa", CRH(tol=1e-10)),
    "cap": lambda: make_defense("cap", GTM(tol=1e-10)),
}


@pytest.mark.parametrize("split", ["new tasks", "new workers", "more answers everywhere"])
@pytest.mark.parametrize("name", list(WARM))
def test_partial_fit_ends_where_a_fit_on_all_ends_in_fewer_iterations(
    name: str, split: str, answers: pd.DataFrame
) -> None:
    old, new = _splits(answers)[split]
    full = WARM[name]().fit(answers)
    updated = WARM[name]().fit(old).partial_fit(new)
    assert sorted(updated.truths_.index) == sorted(full.truths_.index)
    assert sorted(updated.weights_.index) == sorted(full.weights_.index)
    np.testing.assert_allclose(updated.truths_, full.truths_.loc[updated.truths_.index], rtol=0, atol=1e-6)
    np.testing.assert_allclose(updated.weights_, full.weights_.loc[updated.weights_.index], rtol=1e-6)
    # New tasks start near their end (the truth step under the last weights): fewer iterations. New workers
    # start at the median weight, and CRH converges fast anyway: at most as many (measured 9 -> 9).
    if split == "new workers":
        assert updated.n_iter_ <= full.n_iter_
    else:
        assert updated.n_iter_ < full.n_iter_


@pytest.mark.parametrize("model", [CATD(), LFCN(), Mean(), Median()], ids=["catd", "lfc-n", "mean", "median"])
def test_methods_that_cannot_warm_start_refit_all_the_answers(model: object, answers: pd.DataFrame) -> None:
    old, new = _splits(answers)["more answers everywhere"]
    full = model.clone().fit(answers)  # type: ignore[attr-defined]
    updated = model.clone().fit(old).partial_fit(new)  # type: ignore[attr-defined]
    np.testing.assert_allclose(updated.truths_, full.truths_.loc[updated.truths_.index], rtol=1e-9, atol=1e-9)
    assert updated.n_iter_ == full.n_iter_


def test_partial_fit_first_is_a_fit_and_repeats_are_refused(answers: pd.DataFrame) -> None:
    first = CRH().partial_fit(answers)
    pd.testing.assert_series_equal(first.truths_, CRH().fit(answers).truths_)
    with pytest.raises(InputError, match=r"repeat 3 \(task, worker\) pair\(s\) already answered"):
        first.partial_fit(answers.iloc[:3])
    with_gold = CRH().fit(answers.iloc[:-100]).partial_fit(answers.iloc[-100:], gold=pd.Series({0: 12.5}))
    assert with_gold.truths_.loc[0] == 12.5


@pytest.mark.parametrize("split", ["new tasks", "new workers", "more answers everywhere"])
def test_extended_answers_are_coded_as_if_read_at_once(split: str, answers: pd.DataFrame) -> None:
    old, new = _splits(answers)[split]
    extended = Answers.from_frame(old).extended(Answers.from_frame(new))
    whole = Answers.from_frame(answers)
    assert extended.tasks.equals(whole.tasks) and extended.workers.equals(whole.workers)
    for field in ("task", "worker", "value"):
        np.testing.assert_array_equal(getattr(extended, field), getattr(whole, field))


def test_extending_answers_whose_labels_are_not_in_order() -> None:
    # Answers built from codes may list their labels in any order (a poisoned crowd appends its attackers):
    # the union is still coded as reading everything at once would code it, repeats still found.
    old = Answers.from_codes(pd.Index(["t2", "t1"]), pd.Index(["w3", "w1"]), [0, 0, 1], [0, 1, 1], [1.0, 2.0, 3.0])
    new = Answers.from_frame(pd.DataFrame({"task": ["t1", "t3"], "worker": ["w3", "w2"], "value": [4.0, 5.0]}))
    extended = old.extended(new)
    whole = Answers.from_frame(pd.concat([old.to_frame(), new.to_frame()]))
    assert extended.tasks.equals(whole.tasks) and extended.workers.equals(whole.workers)
    for field in ("task", "worker", "value"):
        np.testing.assert_array_equal(getattr(extended, field), getattr(whole, field))
    with pytest.raises(InputError, match=r"repeat 1 \(task, worker\) pair"):
        old.extended(Answers.from_frame(pd.DataFrame({"task": ["t1"], "worker": ["w1"], "value": [9.0]})))
