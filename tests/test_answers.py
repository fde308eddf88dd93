"""Answers.from_frame / from_codes: validation messages, duplicate policies, canonical order, round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from truthguard import Answers, InputError
from truthguard.core.answers import DUPLICATE_POLICIES, _recode


def frame(**columns: object) -> pd.DataFrame:
    base: dict[str, object] = {"task": ["t1", "t1", "t2"], "worker": ["w1", "w2", "w1"], "value": [1.0, 3.0, 5.0]}
    base.update(columns)
    return pd.DataFrame({k: v for k, v in base.items() if v is not None})


# ------------------------------------------------------------------ basic construction


def test_from_frame_codes_a_small_table() -> None:
    answers = Answers.from_frame(frame())
    assert (answers.n_tasks, answers.n_workers, answers.n_answers) == (2, 2, 3)
    assert answers.tasks.tolist() == ["t1", "t2"]
    assert answers.workers.tolist() == ["w1", "w2"]
    assert answers.task.dtype == np.int64
    assert answers.worker.dtype == np.int64
    assert answers.value.dtype == np.float64
    assert answers.task.tolist() == [0, 0, 1]
    assert answers.worker.tolist() == [0, 1, 0]
    assert answers.value.tolist() == [1.0, 3.0, 5.0]
    assert answers.task_counts().tolist() == [2, 1]
    assert answers.worker_counts().tolist() == [2, 1]
    assert "n_answers=3" in repr(answers)


def test_toy_fixture(toy_answers: pd.DataFrame) -> None:
    answers = Answers.from_frame(toy_answers)
    assert (answers.n_tasks, answers.n_workers, answers.n_answers) == (3, 3, 9)


def test_extra_columns_are_ignored() -> None:
    answers = Answers.from_frame(frame(comment=["x", "y", "z"]))
    assert answers.n_answers == 3


def test_label_is_an_alias_of_value() -> None:
    df = frame(value=None, label=[1.0, 3.0, 5.0])
    answers = Answers.from_frame(df)
    assert answers.value.tolist() == [1.0, 3.0, 5.0]
    assert list(answers.to_frame().columns) == ["task", "worker", "value"]


def test_value_and_label_together_are_refused() -> None:
    with pytest.raises(InputError, match=r"both a 'value' and a 'label' column.*keep one"):
        Answers.from_frame(frame(label=[1.0, 2.0, 3.0]))


@pytest.mark.parametrize("missing", ["task", "worker", "value"])
def test_missing_column(missing: str) -> None:
    df = frame().drop(columns=[missing])
    message = rf"missing column\(s\) {missing} \(found: .*\).*give columns task, worker, value"
    with pytest.raises(InputError, match=message):
        Answers.from_frame(df)


def test_all_columns_missing_lists_them_all() -> None:
    with pytest.raises(InputError, match=r"missing column\(s\) task, worker, value \(found: a, b\)"):
        Answers.from_frame(pd.DataFrame({"a": [1], "b": [2]}))


@pytest.mark.parametrize("data", [[{"task": 1, "worker": 1, "value": 1.0}], {"task": [1]}, np.zeros((2, 3)), None])
def test_non_dataframe_input(data: object) -> None:
    with pytest.raises(InputError, match=r"must be a pandas DataFrame.*got"):
        Answers.from_frame(data)  # type: ignore[arg-type]


def test_series_input_names_its_type() -> None:
    with pytest.raises(InputError, match=r"must be a pandas DataFrame with columns task, worker, value; got Series"):
        Answers.from_frame(pd.Series([1.0, 2.0]))  # type: ignore[arg-type]


def test_empty_frame_with_columns() -> None:
    with pytest.raises(InputError, match=r"answers are empty.*no rows"):
        Answers.from_frame(pd.DataFrame(columns=["task", "worker", "value"]))


def test_empty_frame_without_columns() -> None:
    with pytest.raises(InputError, match=r"missing column\(s\).*found: none"):
        Answers.from_frame(pd.DataFrame())


@pytest.mark.parametrize("name", ["task", "worker"])
@pytest.mark.parametrize("missing", [None, np.nan])
def test_missing_ids(name: str, missing: object) -> None:
    df = frame()
    df[name] = df[name].astype(object)
    df.loc[1, name] = missing
    with pytest.raises(InputError, match=rf"missing {name} id at row 2; fill or drop that row"):
        Answers.from_frame(df)


# ------------------------------------------------------------------ values


def test_non_numeric_value_names_row_task_and_worker() -> None:
    with pytest.raises(InputError, match=r"non-numeric value 'abc' at row 2 \(task 't1', worker 'w2'\).*numbers only"):
        Answers.from_frame(frame(value=["1.0", "abc", "5"]))


def test_non_numeric_label_names_the_label_column() -> None:
    with pytest.raises(InputError, match=r"column 'label' has a non-numeric value 'x' at row 3"):
        Answers.from_frame(frame(value=None, label=[1, 2, "x"]))


def test_numeric_strings_are_accepted() -> None:
    answers = Answers.from_frame(frame(value=["3.5", "-2", "1e2"]))
    assert answers.value.tolist() == [3.5, -2.0, 100.0]


@pytest.mark.parametrize(
    ("bad", "kind"),
    [(np.nan, r"missing \(NaN\)"), (np.inf, r"infinite \(inf\)"), (-np.inf, r"infinite \(-inf\)")],
)
def test_non_finite_values(bad: float, kind: str) -> None:
    with pytest.raises(
        InputError,
        match=rf"1 missing or infinite value\(s\), first {kind} at row 3 \(task 't2', worker 'w1'\).*finite numbers",
    ):
        Answers.from_frame(frame(value=[1.0, 2.0, bad]))


def test_non_finite_count_is_reported() -> None:
    with pytest.raises(InputError, match=r"3 missing or infinite value\(s\), first missing \(NaN\) at row 1"):
        Answers.from_frame(frame(value=[np.nan, np.inf, -np.inf]))


def test_missing_value_in_string_column_is_nan_error() -> None:
    with pytest.raises(InputError, match=r"missing \(NaN\) at row 2"):
        Answers.from_frame(frame(value=["1", None, "3"]))


def test_nullable_integer_with_na() -> None:
    with pytest.raises(InputError, match=r"missing \(NaN\) at row 2"):
        Answers.from_frame(frame(value=pd.array([1, None, 3], dtype="Int64")))


@pytest.mark.parametrize("values", [[True, False, True], pd.array([True, False, True], dtype="boolean")])
def test_boolean_column_is_refused(values: object) -> None:
    with pytest.raises(InputError, match=r"column 'value' holds booleans; give numeric values"):
        Answers.from_frame(frame(value=values))


def test_integer_values_become_float() -> None:
    answers = Answers.from_frame(frame(value=[1, 2, 3]))
    assert answers.value.dtype == np.float64
    assert answers.value.tolist() == [1.0, 2.0, 3.0]


# ------------------------------------------------------------------ duplicates

DUPLICATES = pd.DataFrame(
    {
        "task": ["t2", "t1", "t2", "t2", "t1"],
        "worker": ["b", "a", "b", "a", "a"],
        "value": [1.0, 2.0, 3.0, 4.0, 6.0],
    }
)


def test_duplicates_are_an_error_by_default() -> None:
    with pytest.raises(InputError, match=r"repeat a \(task, worker\) pair 2 time\(s\).*on_duplicate='mean' or 'last'"):
        Answers.from_frame(DUPLICATES)


def test_duplicate_message_names_the_first_repeat() -> None:
    df = pd.DataFrame({"task": ["x", "y", "x"], "worker": ["a", "a", "a"], "value": [1.0, 2.0, 3.0]})
    with pytest.raises(InputError, match=r"first at row 3 \(task 'x', worker 'a'\).*--on-duplicate mean\|last"):
        Answers.from_frame(df)


def test_on_duplicate_mean_averages() -> None:
    answers = Answers.from_frame(DUPLICATES, on_duplicate="mean")
    result = answers.to_frame()
    assert result.to_dict("records") == [
        {"task": "t1", "worker": "a", "value": 4.0},  # mean of 2 and 6
        {"task": "t2", "worker": "a", "value": 4.0},
        {"task": "t2", "worker": "b", "value": 2.0},  # mean of 1 and 3
    ]
    assert answers.n_answers == 3


def test_on_duplicate_last_keeps_the_last_row() -> None:
    answers = Answers.from_frame(DUPLICATES, on_duplicate="last")
    assert answers.to_frame().to_dict("records") == [
        {"task": "t1", "worker": "a", "value": 6.0},
        {"task": "t2", "worker": "a", "value": 4.0},
        {"task": "t2", "worker": "b", "value": 3.0},
    ]


@pytest.mark.parametrize("policy", DUPLICATE_POLICIES)
def test_policies_agree_without_duplicates(policy: str) -> None:
    answers = Answers.from_frame(frame(), on_duplicate=policy)  # type: ignore[arg-type]
    assert answers.value.tolist() == [1.0, 3.0, 5.0]


@pytest.mark.parametrize("policy", ["first", "", "MEAN", None])
def test_unknown_policy(policy: object) -> None:
    with pytest.raises(InputError, match=r"unknown on_duplicate .*choose one of error, mean, last"):
        Answers.from_frame(frame(), on_duplicate=policy)  # type: ignore[arg-type]


def test_coerce_passes_answers_through_and_validates_frames() -> None:
    answers = Answers.from_frame(frame())
    assert Answers.coerce(answers) is answers
    assert Answers.coerce(DUPLICATES, on_duplicate="last").n_answers == 3
    with pytest.raises(InputError, match="on_duplicate"):
        Answers.coerce(DUPLICATES)


# ------------------------------------------------------------------ shape of the result


def test_single_answer_tasks_are_allowed() -> None:
    df = pd.DataFrame({"task": [1, 2, 3], "worker": ["a", "b", "c"], "value": [1.0, 2.0, 3.0]})
    answers = Answers.from_frame(df)
    assert answers.task_counts().tolist() == [1, 1, 1]
    one = Answers.from_frame(pd.DataFrame({"task": [7], "worker": [8], "value": [9.0]}))
    assert (one.n_tasks, one.n_workers, one.n_answers) == (1, 1, 1)


def test_canonical_order_is_independent_of_row_order() -> None:
    rng = np.random.default_rng(0)
    tasks = [f"t{i}" for i in range(6)]
    workers = [f"w{j}" for j in range(5)]
    pairs = [(t, w) for t in tasks for w in workers if rng.random() < 0.7]
    df = pd.DataFrame(pairs, columns=["task", "worker"])
    df["value"] = rng.normal(size=len(df))
    reference = Answers.from_frame(df)
    assert reference.tasks.tolist() == sorted(set(df["task"]))
    assert reference.workers.tolist() == sorted(set(df["worker"]))
    assert np.all(np.diff(reference.task) >= 0)
    same_task = reference.task[1:] == reference.task[:-1]
    assert np.all(np.diff(reference.worker)[same_task] > 0)
    for seed in range(3):
        shuffled = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        answers = Answers.from_frame(shuffled)
        assert answers.tasks.equals(reference.tasks)
        assert answers.workers.equals(reference.workers)
        np.testing.assert_array_equal(answers.task, reference.task)
        np.testing.assert_array_equal(answers.worker, reference.worker)
        np.testing.assert_array_equal(answers.value, reference.value)


def test_integer_labels_are_sorted_numerically() -> None:
    df = pd.DataFrame({"task": [10, 2, 1], "worker": [30, 4, 100], "value": [1.0, 2.0, 3.0]})
    answers = Answers.from_frame(df)
    assert answers.tasks.tolist() == [1, 2, 10]
    assert answers.workers.tolist() == [4, 30, 100]
    assert answers.value.tolist() == [3.0, 2.0, 1.0]


def test_unorderable_mixed_labels_still_work() -> None:
    df = pd.DataFrame({"task": [1, "x", 2], "worker": ["a", "b", "a"], "value": [1.0, 2.0, 3.0]})
    answers = Answers.from_frame(df)
    assert set(answers.tasks) == {1, "x", 2}
    back = answers.to_frame()
    assert dict(zip(back["task"], back["value"], strict=True)) == {1: 1.0, "x": 2.0, 2: 3.0}


def test_to_frame_round_trip(toy_answers: pd.DataFrame) -> None:
    answers = Answers.from_frame(toy_answers.sample(frac=1.0, random_state=1))
    back = answers.to_frame()
    assert list(back.columns) == ["task", "worker", "value"]
    expected = toy_answers.sort_values(["task", "worker"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    again = Answers.from_frame(back)
    assert again.tasks.equals(answers.tasks)
    assert again.workers.equals(answers.workers)
    np.testing.assert_array_equal(again.task, answers.task)
    np.testing.assert_array_equal(again.worker, answers.worker)
    np.testing.assert_array_equal(again.value, answers.value)


# ------------------------------------------------------------------ from_codes


def test_from_codes_sorts_and_keeps_labels() -> None:
    tasks, workers = pd.Index(["x", "y"]), pd.Index(["a", "b"])
    answers = Answers.from_codes(tasks, workers, [1, 0, 0], [0, 1, 0], [1.0, 2.0, 3.0])
    assert answers.tasks.tolist() == ["x", "y"]
    assert answers.task.tolist() == [0, 0, 1]
    assert answers.worker.tolist() == [0, 1, 0]
    assert answers.value.tolist() == [3.0, 2.0, 1.0]


@pytest.mark.parametrize(
    ("task", "worker", "value", "message"),
    [
        ([2, 0], [0, 0], [1.0, 2.0], r"task codes must lie in \[0, 2\); got 0\.\.2"),
        ([-1, 0], [0, 0], [1.0, 2.0], r"task codes must lie in \[0, 2\)"),
        ([0, 1], [0, 5], [1.0, 2.0], r"worker codes must lie in \[0, 2\)"),
        ([0, 1], [0, 0], [1.0, np.nan], r"answer 2 has a non-finite value nan"),
        ([0, 1], [0, 0], [np.inf, 1.0], r"answer 1 has a non-finite value inf"),
        ([0], [0, 1], [1.0, 2.0], r"1-D arrays of the same length"),
        ([], [], [], r"answers are empty"),
    ],
)
def test_from_codes_validation(task: list[int], worker: list[int], value: list[float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Answers.from_codes(pd.Index(["x", "y"]), pd.Index(["a", "b"]), task, worker, value)


def test_from_codes_duplicate_policies() -> None:
    tasks, workers = pd.Index(["x", "y"]), pd.Index(["a", "b"])
    args = (tasks, workers, [1, 1, 0], [0, 0, 1], [2.0, 4.0, 7.0])
    with pytest.raises(InputError, match=r"first at answer 2 \(task 'y', worker 'a'\).*on_duplicate"):
        Answers.from_codes(*args)
    assert Answers.from_codes(*args, on_duplicate="mean").value.tolist() == [7.0, 3.0]
    assert Answers.from_codes(*args, on_duplicate="last").value.tolist() == [7.0, 4.0]
    with pytest.raises(InputError, match="unknown on_duplicate"):
        Answers.from_codes(*args, on_duplicate="sum")  # type: ignore[arg-type]


# ------------------------------------------------------------------ bugs found while writing these tests


def test_duplicate_column_names_are_an_input_error() -> None:
    """Two 'value' columns (e.g. after pd.concat(axis=1)) are an InputError, not an AttributeError."""
    df = pd.DataFrame([["t1", "w1", 1.0, 2.0]], columns=["task", "worker", "value", "value"])
    with pytest.raises(InputError, match="value"):
        Answers.from_frame(df)


def test_messages_show_integer_ids_plainly() -> None:
    """Integer ids appear as ``7`` in messages, not NumPy 2's ``np.int64(7)``."""
    df = pd.DataFrame({"task": [7, 7], "worker": [3, 4], "value": [1.0, "oops"]})
    with pytest.raises(InputError, match=r"at row 2") as error:
        Answers.from_frame(df)
    assert "np." not in str(error.value)
    assert "(task 7, worker 4)" in str(error.value)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (pd.Series([True, False, True], dtype=object), "booleans"),
        (pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]), "datetime"),
        (pd.to_timedelta([1, 2, 3], unit="s"), "timedelta"),
        (pd.Series([1 + 1j, 2 + 0j, 3 + 0j], dtype=object), "complex"),
    ],
)
def test_values_that_are_not_real_numbers_are_refused(values: object, kind: str) -> None:
    # Each of these would otherwise be silently converted to numbers (0/1, nanoseconds, real part).
    with pytest.raises(InputError, match=f"column 'value' holds {kind}"):
        Answers.from_frame(frame(value=values))


def test_from_codes_refuses_non_numeric_values_and_float_codes() -> None:
    tasks, workers = pd.Index(["t"]), pd.Index(["w1", "w2"])
    with pytest.raises(InputError, match="answer values must be numbers"):
        Answers.from_codes(tasks, workers, [0, 0], [0, 1], ["x", 1.0])
    with pytest.raises(InputError, match="worker codes must be integers"):
        Answers.from_codes(tasks, workers, [0, 0], [0.0, 1.7], [1.0, 2.0])


def test_default_weight_fills_workers_without_a_weight() -> None:
    """``Mean(weights=..., default_weight=0.5)`` always failed: "assignment destination is read-only"."""
    from truthguard.aggregators import Mean, Median

    df = pd.DataFrame({"task": [1, 1, 1], "worker": ["a", "b", "c"], "value": [0.0, 3.0, 9.0]})
    weights = pd.Series({"a": 1.0})
    # weighted mean with b and c at 0.5: (0 * 1 + 3 * 0.5 + 9 * 0.5) / 2 = 3
    assert Mean(weights=weights, default_weight=0.5).fit_predict(df).tolist() == [3.0]
    # weighted median, weights 1, 0.5, 0.5 (total 2): the cumulative weight reaches half at a's 0 exactly,
    # so the minimisers are [0, 3] and the midpoint 1.5 is returned
    assert Median(weights=weights, default_weight=0.5).fit_predict(df).tolist() == [1.5]


@given(codes=st.lists(st.integers(0, 40), min_size=1, max_size=200), extra=st.integers(0, 5))
def test_recode_is_unique_with_inverse(codes: list[int], extra: int) -> None:
    # The linear-time re-coding behind Answers.select must give exactly what np.unique gives (a sort).
    array = np.asarray(codes, dtype=np.int64)
    used, rank = _recode(array, int(array.max()) + 1 + extra)
    expected_used, expected_rank = np.unique(array, return_inverse=True)
    np.testing.assert_array_equal(used, expected_used)
    np.testing.assert_array_equal(rank, expected_rank)
    assert rank.dtype == np.int64


def test_select_drops_unused_tasks_and_workers_and_keeps_order(toy_answers: pd.DataFrame) -> None:
    answers = Answers.from_frame(toy_answers)
    keep = answers.worker != answers.workers.get_loc("c")
    keep &= answers.task != 0
    kept = answers.select(keep)
    assert "c" not in set(kept.workers) and answers.tasks[0] not in set(kept.tasks)
    assert kept.n_answers == int(keep.sum())
    frame, expected = kept.to_frame(), answers.to_frame()[keep].reset_index(drop=True)
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected, check_dtype=False)


def test_counts_are_counted_once_and_read_only() -> None:
    """A fit asks for the counts several times: the same read-only array each time, equal to a bincount."""
    answers = Answers.from_frame(
        pd.DataFrame({"task": [1, 1, 2, 3, 3, 3], "worker": ["a", "b", "a", "a", "b", "c"], "value": 1.0})
    )
    assert answers.task_counts() is answers.task_counts()
    assert answers.task_counts().tolist() == [2, 1, 3] and answers.worker_counts().tolist() == [3, 2, 1]
    with pytest.raises(ValueError, match="read-only"):
        answers.worker_counts()[0] = 9
