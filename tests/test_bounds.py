"""Bounds: a global pair or a per-task table, validation, alignment with tasks, and check()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from truthguard import Answers, Bounds, InputError


def answers_of(tasks: list[object], workers: list[object], values: list[float]) -> Answers:
    return Answers.from_frame(pd.DataFrame({"task": tasks, "worker": workers, "value": values}))


# ------------------------------------------------------------------ global pair


def test_global_pair() -> None:
    bounds = Bounds(0, 100)
    assert bounds.is_global
    assert bounds.low == 0.0
    assert bounds.high == 100.0
    assert isinstance(bounds.low, float)
    assert repr(bounds) == "Bounds(0, 100)"
    low, high = bounds.arrays(pd.Index(["a", "b", "c"]))
    assert low.tolist() == [0.0, 0.0, 0.0]
    assert high.tolist() == [100.0, 100.0, 100.0]


def test_global_pair_may_be_a_single_point() -> None:
    bounds = Bounds(5, 5)
    bounds.check(answers_of(["t"], ["w"], [5.0]))


def test_numeric_strings_are_converted() -> None:
    bounds = Bounds("1", "2.5")  # type: ignore[arg-type]
    assert (bounds.low, bounds.high) == (1.0, 2.5)


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (5, 1, r"bounds for 'all tasks' are invalid: low=5, high=1; give finite numbers with low <= high"),
        (np.nan, 1, r"invalid: low=nan, high=1"),
        (0, np.nan, r"invalid: low=0, high=nan"),
        (0, np.inf, r"invalid: low=0, high=inf"),
        (-np.inf, 0, r"invalid: low=-inf, high=0"),
        ("a", 1, r"bounds must be numbers; got low='a', high=1"),
        (0, None, r"bounds must be numbers; got low=0, high=None"),
        ([0], 1, r"bounds must be numbers"),
    ],
)
def test_invalid_global_pair(low: object, high: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Bounds(low, high)  # type: ignore[arg-type]


def test_mixing_number_and_series_is_refused() -> None:
    with pytest.raises(InputError, match="both as numbers or both as per-task Series"):
        Bounds(pd.Series([0.0], index=["t"]), 1.0)
    with pytest.raises(InputError, match="both as numbers or both as per-task Series"):
        Bounds(0.0, pd.Series([1.0], index=["t"]))


# ------------------------------------------------------------------ per-task table


def test_per_task_from_frame() -> None:
    bounds = Bounds.from_frame(pd.DataFrame({"task": [1, 2], "low": [0, -100], "high": [100, 100]}))
    assert not bounds.is_global
    assert isinstance(bounds.low, pd.Series)
    assert bounds.low.tolist() == [0.0, -100.0]
    assert bounds.high.tolist() == [100.0, 100.0]
    assert bounds.low.index.tolist() == [1, 2]
    assert "per-task table of 2 tasks" in repr(bounds)


def test_per_task_arrays_follow_the_given_task_order() -> None:
    bounds = Bounds.from_frame(pd.DataFrame({"task": ["b", "a", "c"], "low": [1, 2, 3], "high": [10, 20, 30]}))
    low, high = bounds.arrays(pd.Index(["a", "c"]))
    assert low.tolist() == [2.0, 3.0]
    assert high.tolist() == [20.0, 30.0]


def test_per_task_ids_as_strings_match_integer_tasks() -> None:
    bounds = Bounds.from_frame(pd.DataFrame({"task": ["1", "2"], "low": [0, 5], "high": [1, 6]}))
    low, high = bounds.arrays(pd.Index([2, 1]))
    assert low.tolist() == [5.0, 0.0]
    assert high.tolist() == [6.0, 1.0]


def test_per_task_from_series() -> None:
    bounds = Bounds(pd.Series([0.0, 1.0], index=["x", "y"]), pd.Series([2.0, 3.0], index=["y", "x"]))
    low, high = bounds.arrays(pd.Index(["x", "y"]))
    assert low.tolist() == [0.0, 1.0]
    assert high.tolist() == [3.0, 2.0]


def test_per_task_series_over_different_tasks() -> None:
    with pytest.raises(InputError, match="must cover the same tasks"):
        Bounds(pd.Series([0.0, 1.0], index=["x", "y"]), pd.Series([2.0, 3.0], index=["x", "z"]))


def test_per_task_invalid_pair_names_the_task() -> None:
    frame = pd.DataFrame({"task": ["ok", "bad"], "low": [0, 10], "high": [1, 5]})
    with pytest.raises(InputError, match=r"bounds for 'bad' are invalid: low=10, high=5; .*low <= high"):
        Bounds.from_frame(frame)


def test_per_task_infinite_bound() -> None:
    frame = pd.DataFrame({"task": ["t"], "low": [0.0], "high": [np.inf]})
    with pytest.raises(InputError, match=r"bounds for 't' are invalid: low=0, high=inf"):
        Bounds.from_frame(frame)


@pytest.mark.parametrize("column", ["low", "high"])
@pytest.mark.parametrize("bad", [np.nan, "abc", None])
def test_per_task_non_numeric_or_missing(column: str, bad: object) -> None:
    frame = pd.DataFrame({"task": ["a", "b"], "low": [0, 1], "high": [5, 6]}, dtype=object)
    frame.loc[1, column] = bad
    with pytest.raises(InputError, match=rf"non-numeric or missing {column} at row 2; give numbers"):
        Bounds.from_frame(frame)


def test_per_task_numeric_strings_are_accepted() -> None:
    bounds = Bounds.from_frame(pd.DataFrame({"task": ["a"], "low": ["-1.5"], "high": ["2"]}))
    assert bounds.low.tolist() == [-1.5]
    assert bounds.high.tolist() == [2.0]


def test_duplicate_task_rows() -> None:
    frame = pd.DataFrame({"task": ["a", "b", "a"], "low": [0, 0, 1], "high": [5, 5, 6]})
    with pytest.raises(InputError, match=r"gives task 'a' more than once; keep one row per task"):
        Bounds.from_frame(frame)


@pytest.mark.parametrize(
    ("columns", "missing"),
    [
        (["low", "high"], "task"),
        (["task", "high"], "low"),
        (["task", "low"], "high"),
        (["task"], "low, high"),
        (["other"], "task, low, high"),
    ],
)
def test_missing_columns(columns: list[str], missing: str) -> None:
    frame = pd.DataFrame({name: [1] for name in columns})
    with pytest.raises(InputError, match=rf"missing column\(s\) {missing}; give columns task, low, high"):
        Bounds.from_frame(frame)


def test_arrays_for_tasks_missing_from_the_table() -> None:
    bounds = Bounds.from_frame(pd.DataFrame({"task": ["a", "b"], "low": [0, 0], "high": [1, 1]}))
    with pytest.raises(InputError, match=r"no row for 2 task\(s\), e\.g\. 'c'; add them or use one global pair"):
        bounds.arrays(pd.Index(["a", "c", "d"]))


def test_check_reports_tasks_missing_from_the_table() -> None:
    bounds = Bounds.from_frame(pd.DataFrame({"task": ["a"], "low": [0], "high": [10]}))
    with pytest.raises(InputError, match=r"no row for 1 task\(s\), e\.g\. 'b'"):
        bounds.check(answers_of(["a", "b"], ["w", "w"], [1.0, 2.0]))


# ------------------------------------------------------------------ check()


def test_check_accepts_values_inside_and_on_the_boundary() -> None:
    answers = answers_of(["t1", "t1", "t1", "t2"], ["a", "b", "c", "a"], [0.0, 50.0, 100.0, -100.0])
    Bounds(-100, 100).check(answers)
    Bounds(0, 100).check(answers_of(["t1", "t1"], ["a", "b"], [0.0, 100.0]))
    per_task = Bounds.from_frame(pd.DataFrame({"task": ["t1", "t2"], "low": [0, -100], "high": [100, -100]}))
    per_task.check(answers)


def test_check_rejects_a_value_above_and_names_everything() -> None:
    answers = answers_of(["t1", "t1", "t2"], ["a", "b", "a"], [1.0, 100.5, 5.0])
    with pytest.raises(
        InputError,
        match=r"1 answer\(s\) lie outside their bounds, e\.g\. value 100\.5 of task 't1' \(worker 'b'\) is outside "
        r"\[0, 100\]; fix the values or widen the bounds",
    ):
        Bounds(0, 100).check(answers)


def test_check_rejects_a_value_below() -> None:
    answers = answers_of(["t1", "t2", "t2"], ["a", "a", "b"], [1.0, -0.25, -3.0])
    with pytest.raises(InputError, match=r"2 answer\(s\) lie outside.*value -0\.25 of task 't2' \(worker 'a'\)"):
        Bounds(0, 10).check(answers)


def test_check_uses_each_tasks_own_interval() -> None:
    bounds = Bounds.from_frame(pd.DataFrame({"task": ["narrow", "wide"], "low": [0, -100], "high": [1, 100]}))
    bounds.check(answers_of(["narrow", "wide"], ["a", "a"], [1.0, -100.0]))
    with pytest.raises(InputError, match=r"value 2 of task 'narrow' \(worker 'b'\) is outside \[0, 1\]"):
        bounds.check(answers_of(["narrow", "narrow", "wide"], ["a", "b", "a"], [0.5, 2.0, 99.0]))


def test_dataset_bounds_hold_for_synthetic_data() -> None:
    from truthguard.datasets import make_synthetic

    data = make_synthetic(n_tasks=20, n_workers=5, seed=1)
    data.bounds.check(Answers.from_frame(data.answers))


def test_check_message_shows_integer_ids_plainly() -> None:
    """The message reads ``task 1 (worker 2)``, not NumPy 2's ``task np.int64(1) (worker np.int64(2))``."""
    with pytest.raises(InputError, match=r"outside their bounds") as error:
        Bounds(0, 1).check(answers_of([1], [2], [5.0]))
    assert "np." not in str(error.value)
    assert "value 5 of task 1 (worker 2) is outside [0, 1]" in str(error.value)


def test_per_task_series_must_cover_the_same_tasks() -> None:
    low = pd.Series([0.0, 0.0], index=[1, 2])
    with pytest.raises(InputError, match="must cover the same tasks"):
        Bounds(low, pd.Series([1.0, 1.0, 1.0], index=[1, 2, 3]))  # task 3 only in high: not silently dropped


def test_per_task_series_must_be_numeric_and_have_ids() -> None:
    with pytest.raises(InputError, match="per-task bounds must be numbers"):
        Bounds(pd.Series(["a"], index=[1]), pd.Series([1.0], index=[1]))
    with pytest.raises(InputError, match="missing task id"):
        Bounds.from_frame(pd.DataFrame({"task": [1.0, np.nan], "low": [0, 0], "high": [1, 1]}))
