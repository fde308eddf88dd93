"""Reading answers, truth and bounds (CSV and Parquet) and writing estimates atomically."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from truthguard import InputError, read_answers, read_bounds, read_truth, write_table
from truthguard.core.io import read_table, truth_from_frame
from truthguard.errors import OutputError
from truthguard.metrics import evaluate

ANSWERS_CSV = "task,worker,value\n1,a,1.5\n1,b,2.5\n2,a,10\n3,b,-4\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(200, 256))

WriteCsv = Callable[[str, str], Path]


@pytest.fixture
def answers_csv(write_csv: WriteCsv) -> Path:
    return write_csv("answers.csv", ANSWERS_CSV)


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# ------------------------------------------------------------------ read_table / read_answers


def test_read_csv(answers_csv: Path) -> None:
    table = read_table(answers_csv)
    assert list(table.columns) == ["task", "worker", "value"]
    assert table.shape == (4, 3)
    answers = read_answers(answers_csv)
    assert answers.tasks.tolist() == [1, 2, 3]
    assert answers.workers.tolist() == ["a", "b"]
    assert answers.value.tolist() == [1.5, 2.5, 10.0, -4.0]


def test_read_csv_with_spaces_after_commas(write_csv: WriteCsv) -> None:
    path = write_csv("spaced.csv", "task, worker, value\n1, a, 1.5\n2, b, 3\n")
    answers = read_answers(path)
    assert answers.workers.tolist() == ["a", "b"]
    assert answers.value.tolist() == [1.5, 3.0]


def test_read_csv_with_label_column(write_csv: WriteCsv) -> None:
    path = write_csv("labels.csv", "task,worker,label\nx,a,1\nx,b,2\n")
    assert read_answers(path).value.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("suffix", [".parquet", ".pq", ".PARQUET"])
def test_read_parquet(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"task": ["t2", "t1", "t1"], "worker": [1, 2, 1], "value": [3.0, 2.0, 1.0]})
    path = tmp_path / f"answers{suffix}"
    frame.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(read_table(path), frame)
    answers = read_answers(path)
    assert answers.tasks.tolist() == ["t1", "t2"]
    assert answers.value.tolist() == [1.0, 2.0, 3.0]


def test_read_gzipped_csv(tmp_path: Path) -> None:
    path = tmp_path / "answers.csv.gz"
    pd.DataFrame({"task": [1, 2], "worker": ["a", "a"], "value": [1.0, 2.0]}).to_csv(path, index=False)
    assert read_answers(path).n_answers == 2


def test_read_answers_duplicate_policy(write_csv: WriteCsv) -> None:
    path = write_csv("dup.csv", "task,worker,value\n1,a,1\n1,a,3\n")
    with pytest.raises(InputError, match="on_duplicate"):
        read_answers(path)
    assert read_answers(path, on_duplicate="mean").value.tolist() == [2.0]
    assert read_answers(path, on_duplicate="last").value.tolist() == [3.0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"answers file '.*nope\.csv' does not exist; check the path"):
        read_answers(tmp_path / "nope.csv")
    with pytest.raises(InputError, match=r"truth file .* does not exist"):
        read_truth(tmp_path / "nope.csv")
    with pytest.raises(InputError, match=r"bounds file .* does not exist"):
        read_bounds(tmp_path / "nope.parquet")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "data.csv"
    folder.mkdir()
    with pytest.raises(InputError, match=r"answers path '.*data\.csv' is a directory; give a CSV or Parquet file"):
        read_answers(folder)


def test_empty_file(write_csv: WriteCsv) -> None:
    path = write_csv("empty.csv", "")
    with pytest.raises(InputError, match=r"answers file '.*empty\.csv' is empty; it needs a header row and data rows"):
        read_answers(path)


def test_blank_lines_only_file(write_csv: WriteCsv) -> None:
    path = write_csv("blank.csv", "\n\n\n")
    with pytest.raises(InputError, match=r"is empty"):
        read_answers(path)


def test_empty_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"answers file '.*empty\.parquet'"):
        read_answers(path)


def test_header_only_file(write_csv: WriteCsv) -> None:
    path = write_csv("header.csv", "task,worker,value\n")
    assert read_table(path).shape == (0, 3)
    with pytest.raises(InputError, match=r"answers are empty: the table has no rows"):
        read_answers(path)


def test_header_only_parquet(tmp_path: Path) -> None:
    path = tmp_path / "header.parquet"
    pd.DataFrame({"task": pd.Series([], dtype=str), "worker": [], "value": []}).to_parquet(path)
    with pytest.raises(InputError, match=r"answers are empty"):
        read_answers(path)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("garbage.csv", r"answers file '.*garbage\.csv' is not UTF-8 text; save it as UTF-8"),
        ("garbage.txt", r"answers file '.*garbage\.txt' is not UTF-8 text; save it as UTF-8"),
        ("garbage.parquet", r"cannot read answers file '.*garbage\.parquet' \(.+\); give a valid CSV or Parquet"),
    ],
)
def test_garbage_binary_file(tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(PNG_BYTES)
    with pytest.raises(InputError, match=message):
        read_answers(path)


def test_garbage_that_parses_as_text_fails_on_columns(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"\x00\x01\x02\x03" * 50)
    with pytest.raises(InputError, match=r"answers"):
        read_answers(path)


def test_csv_content_in_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "answers.parquet"
    path.write_text(ANSWERS_CSV)
    with pytest.raises(InputError, match=r"cannot read answers file .*answers\.parquet"):
        read_answers(path)


def test_ragged_csv(write_csv: WriteCsv) -> None:
    path = write_csv("ragged.csv", "task,worker,value\n1,a,1\n2,b,2,3,4\n")
    with pytest.raises(
        InputError,
        match=r"answers file '.*ragged\.csv' row 2 has 5 field\(s\) but the header has 3 \(task, worker, value\): "
        r"'2,b,2,3,4'; give every row one field per header column",
    ):
        read_answers(path)


def test_read_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_bytes(PNG_BYTES)
    with pytest.raises(InputError) as error:
        read_answers(path)
    assert "\n" not in str(error.value)


def test_what_names_the_file_kind(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^weights file"):
        read_table(tmp_path / "w.csv", "weights")


# ------------------------------------------------------------------ read_truth


def test_read_truth(write_csv: WriteCsv, answers_csv: Path) -> None:
    path = write_csv("truth.csv", "task,truth\n1,2\n3,-4.5\n")
    truth = read_truth(path, read_answers(answers_csv).tasks)
    assert truth.name == "truth"
    assert truth.index.name == "task"
    assert truth.to_dict() == {1: 2.0, 3: -4.5}
    assert truth.dtype == np.float64
    assert read_truth(path).to_dict() == {1: 2.0, 3: -4.5}


def test_read_truth_extra_columns_ignored(write_csv: WriteCsv) -> None:
    path = write_csv("truth.csv", "task,truth,note\n1,2,x\n")
    assert read_truth(path).to_dict() == {1: 2.0}


@pytest.mark.parametrize(
    ("text", "missing"),
    [("task,value\n1,2\n", "truth"), ("id,truth\n1,2\n", "task"), ("a,b\n1,2\n", "task, truth")],
)
def test_read_truth_missing_columns(write_csv: WriteCsv, text: str, missing: str) -> None:
    path = write_csv("truth.csv", text)
    with pytest.raises(InputError, match=rf"truth file '.*truth\.csv' is missing column\(s\) {missing}; give columns"):
        read_truth(path)


@pytest.mark.parametrize("bad", ["abc", "", "inf", "-inf", "nan"])
def test_read_truth_non_numeric(write_csv: WriteCsv, bad: str) -> None:
    path = write_csv("truth.csv", f"task,truth\nx,1\ny,{bad}\n")
    with pytest.raises(
        InputError, match=r"missing, non-numeric or infinite truth at row 2 \(task 'y'\); give finite numbers"
    ):
        read_truth(path)


def test_read_truth_duplicate_tasks(write_csv: WriteCsv) -> None:
    path = write_csv("truth.csv", "task,truth\nx,1\ny,2\nx,3\n")
    with pytest.raises(InputError, match=r"gives task 'x' more than once; keep one row per task"):
        read_truth(path)


def test_read_truth_unknown_tasks(write_csv: WriteCsv) -> None:
    answers = read_answers(write_csv("answers.csv", "task,worker,value\nx,a,1\ny,a,2\n"))
    path = write_csv("truth.csv", "task,truth\nx,1\nzz,2\nqq,3\n")
    with pytest.raises(
        InputError, match=r"names 2 task\(s\) that have no answers, e\.g\. 'zz'; remove them or check that the task ids"
    ):
        read_truth(path, answers.tasks)
    assert len(read_truth(path)) == 3  # without tasks there is nothing to check against


def test_truth_may_cover_only_some_tasks(write_csv: WriteCsv, answers_csv: Path) -> None:
    path = write_csv("truth.csv", "task,truth\n2,10\n")
    assert read_truth(path, read_answers(answers_csv).tasks).to_dict() == {2: 10.0}


def test_truth_ids_as_strings_match_integer_answers(tmp_path: Path, answers_csv: Path) -> None:
    answers = read_answers(answers_csv)
    assert answers.tasks.dtype.kind == "i"
    path = tmp_path / "truth.parquet"
    pd.DataFrame({"task": ["1", "2", "3"], "truth": [2.0, 10.0, -4.0]}).to_parquet(path, index=False)
    truth = read_truth(path, answers.tasks)
    assert truth.index.tolist() == ["1", "2", "3"]
    estimates = pd.Series([2.0, 10.0, -3.0], index=answers.tasks)
    scores = evaluate(estimates, truth)
    assert scores.n == 3
    assert scores.mae == pytest.approx(1.0 / 3.0)


def test_truth_from_frame_ids_as_strings() -> None:
    truth = truth_from_frame(pd.DataFrame({"task": ["7", "8"], "truth": ["1.5", "2"]}), pd.Index([7, 8, 9]))
    assert truth.tolist() == [1.5, 2.0]
    with pytest.raises(InputError, match=r"names 1 task\(s\) that have no answers, e\.g\. '10'"):
        truth_from_frame(pd.DataFrame({"task": ["7", "10"], "truth": [1.0, 2.0]}), pd.Index([7, 8, 9]))


# ------------------------------------------------------------------ read_bounds


def test_read_bounds(write_csv: WriteCsv) -> None:
    bounds = read_bounds(write_csv("bounds.csv", "task,low,high\n1,0,10\n2,-5,5\n"))
    low, high = bounds.arrays(pd.Index([2, 1]))
    assert low.tolist() == [-5.0, 0.0]
    assert high.tolist() == [5.0, 10.0]


def test_read_bounds_errors(write_csv: WriteCsv) -> None:
    with pytest.raises(InputError, match=r"missing column\(s\) high"):
        read_bounds(write_csv("b1.csv", "task,low\n1,0\n"))
    with pytest.raises(InputError, match=r"gives task 1 more than once|gives task np\.int64\(1\) more than once"):
        read_bounds(write_csv("b2.csv", "task,low,high\n1,0,1\n1,0,2\n"))
    with pytest.raises(InputError, match=r"non-numeric or missing low at row 1"):
        read_bounds(write_csv("b3.csv", "task,low,high\n1,x,1\n"))
    with pytest.raises(InputError, match=r"bounds file .* is empty"):
        read_bounds(write_csv("b4.csv", ""))


# ------------------------------------------------------------------ write_table


ESTIMATES = pd.DataFrame({"task": ["t1", "t2", "t3"], "value": [0.1, 1.0 / 3.0, -2e-300]})


def test_write_csv(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_table(ESTIMATES, path)
    assert path.read_text().splitlines()[0] == "task,value"
    back = pd.read_csv(path)
    pd.testing.assert_frame_equal(back, ESTIMATES)
    assert leftovers(tmp_path, {"out.csv"}) == []


@pytest.mark.parametrize("name", ["out.parquet", "out.pq"])
def test_write_parquet(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_table(ESTIMATES, str(path))
    pd.testing.assert_frame_equal(pd.read_parquet(path), ESTIMATES)
    pd.testing.assert_frame_equal(read_table(path), ESTIMATES)
    assert leftovers(tmp_path, {name}) == []


def test_write_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old content\n")
    write_table(ESTIMATES, path)
    assert path.read_text().startswith("task,value\n")
    assert leftovers(tmp_path, {"out.csv"}) == []


def test_write_into_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.csv"
    with pytest.raises(
        OutputError, match=r"cannot write '.*out\.csv': directory '.*missing' does not exist; create it"
    ):
        write_table(ESTIMATES, target)
    assert not (tmp_path / "missing").exists()


def test_write_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"a part of its directory path is a file; fix the path"):
        write_table(ESTIMATES, tmp_path / "file" / "out.csv")


def _failing_writer(exception: BaseException) -> Callable[..., None]:
    def write(self: pd.DataFrame, path_or_buf: Any = None, *args: object, **kwargs: object) -> None:
        data = b"task,value\nt1,0."  # half a table ...
        if isinstance(path_or_buf, io.TextIOBase):
            path_or_buf.write(data.decode())
            path_or_buf.flush()
        else:
            path_or_buf.write(data)
        raise exception  # ... then the disk fills up

    return write


@pytest.mark.parametrize("exception", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_failed_csv_write_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exception: BaseException
) -> None:
    monkeypatch.setattr(pd.DataFrame, "to_csv", _failing_writer(exception))
    path = tmp_path / "out.csv"
    with pytest.raises(type(exception)):
        write_table(ESTIMATES, path)
    assert not path.exists()
    assert leftovers(tmp_path, set()) == []


def test_failed_csv_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.csv"
    path.write_text("task,value\nold,1\n")
    monkeypatch.setattr(pd.DataFrame, "to_csv", _failing_writer(OSError(28, "No space left on device")))
    with pytest.raises(OSError, match="No space left"):
        write_table(ESTIMATES, path)
    assert path.read_text() == "task,value\nold,1\n"
    assert leftovers(tmp_path, {"out.csv"}) == []


def test_failed_parquet_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _failing_writer(RuntimeError("boom")))
    (tmp_path / "keep.parquet").write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        write_table(ESTIMATES, tmp_path / "new.parquet")
    with pytest.raises(RuntimeError, match="boom"):
        write_table(ESTIMATES, tmp_path / "keep.parquet")
    assert not (tmp_path / "new.parquet").exists()
    assert (tmp_path / "keep.parquet").read_bytes() == b"old"
    assert leftovers(tmp_path, {"keep.parquet"}) == []


# ------------------------------------------------------------------ bugs found while writing these tests


def test_write_onto_a_directory_is_an_input_error(tmp_path: Path) -> None:
    """write_table(frame, existing_dir) is an InputError, not an IsADirectoryError from Path.replace."""
    folder = tmp_path / "out.csv"
    folder.mkdir()
    with pytest.raises(OutputError, match=r"cannot write '.*out\.csv': it is a directory; give a file name"):
        write_table(ESTIMATES, folder)
    assert folder.is_dir()
    assert leftovers(tmp_path, {"out.csv"}) == []


def test_written_file_respects_the_umask(tmp_path: Path) -> None:
    """The written file has mode 0666 & ~umask like a plain open(), not mkstemp's 0600."""
    previous = os.umask(0o022)
    try:
        write_table(ESTIMATES, tmp_path / "out.csv")
        ESTIMATES.to_csv(tmp_path / "plain.csv", index=False)
    finally:
        os.umask(previous)
    expected = stat.S_IMODE((tmp_path / "plain.csv").stat().st_mode)
    assert expected == 0o644
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == expected


def test_header_only_truth_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("task,truth\n")
    with pytest.raises(InputError, match="has no rows"):
        read_truth(path)


# ------------------------------------------------------------------ strict parsing (hardening issue)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # One more field than the header: pandas moved the first column into the index (tasks 'a', 'b', value 9).
        ("task,worker,value\n1,a,3,9\n1,b,4,9\n",
         r"row 1 has 4 field\(s\) but the header has 3 \(task, worker, value\): '1,a,3,9'; give every row one field"),
        ("task,worker,value\n1,a,3\n1,b,4,\n", r"row 2 has 4 field\(s\) .*: '1,b,4,'; remove the trailing comma"),
        ("task,worker,value\n1,a,3\n2,b\n", r"row 2 has 2 field\(s\) but the header has 3 .*: '2,b'"),
        ("task,worker,value\n" + "1,a,3\n" * 5000 + "9,z,1,1\n", r"row 5001 has 4 field\(s\)"),
    ],
    ids=["extra-field", "trailing-comma", "short-row", "far-down"],
)  # fmt: skip
def test_ragged_rows_name_the_row(write_csv: WriteCsv, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_answers(write_csv("ragged.csv", text))


def test_quoted_commas_and_a_trailing_comma_everywhere_are_fine(write_csv: WriteCsv) -> None:
    answers = read_answers(write_csv("ok.csv", 'task,worker,value,\n"q,1",a,3,\n"q,1",b,5,\n'))
    assert answers.tasks.tolist() == ["q,1"]
    assert answers.value.tolist() == [3.0, 5.0]


def test_repeated_header_is_refused(write_csv: WriteCsv, tmp_path: Path) -> None:
    """``task,worker,value,value`` silently dropped the second column."""
    with pytest.raises(InputError, match=r"answers file '.*rep\.csv' has more than one column named 'value'; keep one"):
        read_answers(write_csv("rep.csv", "task,worker,value,value\n1,a,3,5\n"))
    with pytest.raises(InputError, match=r"more than one column named 'task'"):
        read_answers(write_csv("spaced.csv", "task, task,value\n1,a,3\n"))
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array([1]), pa.array(["a"]), pa.array([3.0]), pa.array([4.0])],
                                 names=["task", "worker", "value", "value"])  # fmt: skip
    pq.write_table(table, tmp_path / "rep.parquet")
    with pytest.raises(InputError, match=r"rep\.parquet' has more than one column named 'value'"):
        read_answers(tmp_path / "rep.parquet")


def test_ids_are_kept_exactly_as_written(write_csv: WriteCsv, tmp_path: Path) -> None:
    """``007`` and ``010`` came out as 7 and 10, and ``007`` and ``07`` were merged into a duplicate."""
    path = write_csv("ids.csv", "task,worker,value\n007,a,3\n07,a,4\n010,b,5\n 1.0 ,b,6\n+3,c,1\n")
    answers = read_answers(path)
    assert sorted(answers.tasks) == ["+3", "007", "010", "07", "1.0"]  # spaces around a field are not part of it
    from truthguard.aggregators import Mean

    write_table(Mean().fit(answers).truths_.reset_index(), tmp_path / "out.csv")
    written = (tmp_path / "out.csv").read_text().splitlines()
    assert sorted(line.split(",")[0] for line in written[1:]) == ["+3", "007", "010", "07", "1.0"]


def test_plain_integer_ids_stay_integers(write_csv: WriteCsv) -> None:
    answers = read_answers(write_csv("ints.csv", "task,worker,value\n10,-3,1\n9,0,2\n10,7,3\n"))
    assert answers.tasks.dtype == np.int64 and answers.tasks.tolist() == [9, 10]  # numeric order
    assert answers.workers.tolist() == [-3, 0, 7]


@pytest.mark.parametrize(
    "column", ["q1\n2\n", "1\n99999999999999999999\n", "1\n02\n", "1\n2.0\n"], ids=["text", "huge", "zero", "float"]
)
def test_one_non_plain_id_makes_the_column_text(write_csv: WriteCsv, column: str) -> None:
    first, second = column.splitlines()
    answers = read_answers(write_csv("mixed.csv", f"task,worker,value\n{first},a,1\n{second},a,2\n"))
    assert sorted(answers.tasks) == sorted([first, second])


def test_text_ids_still_match_integer_ids_of_another_file(write_csv: WriteCsv) -> None:
    answers = read_answers(write_csv("a.csv", "task,worker,value\nq1,a,1\n2,a,2\n"))  # 2 is text here
    truth = read_truth(write_csv("t.csv", "task,truth\n2,5\n"), answers.tasks)  # and an integer here
    assert truth.tolist() == [5.0]


def test_empty_id_is_missing(write_csv: WriteCsv) -> None:
    with pytest.raises(InputError, match=r"answers have a missing worker id at row 2"):
        read_answers(write_csv("gap.csv", "task,worker,value\n1,a,1\n1, ,2\n"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("task,worker,value\n1,a,1\n".encode("utf-16"), r"is UTF-16 or UTF-32 text; save it as UTF-8"),
        (b"task,worker,value\n1,\xe9,1\n", r"is not UTF-8 text; save it as UTF-8"),
        (b"task,worker,value\n1,a,\xe9\n", r"is not UTF-8 text \(column 'value'\); save it as UTF-8"),
        # pyarrow decodes a ragged row as UTF-8 before its callback: found by tests/test_fuzz_cli.py
        (b"task,worker,value\n1,a,3\n1,\xf5b,4,5\n", r"is not UTF-8 text; save it as UTF-8"),
    ],
    ids=["utf16", "latin1-id", "latin1-value", "latin1-ragged-row"],
)
def test_text_must_be_utf8(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "enc.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match=message):
        read_answers(path)


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbftask,worker,value\n1,a,1\n")
    assert read_answers(path).n_answers == 1


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zip"])
def test_compressed_input_by_suffix(tmp_path: Path, kind: str) -> None:
    import bz2
    import gzip
    import lzma
    import zipfile

    raw = ANSWERS_CSV.encode()
    path = tmp_path / f"answers.csv.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("answers.csv", raw)
    else:
        path.write_bytes({"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](raw))
    assert read_answers(path).value.tolist() == [1.5, 2.5, 10.0, -4.0]


def test_zip_with_several_files_and_corrupt_archives(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.csv", ANSWERS_CSV)
        archive.writestr("b.csv", ANSWERS_CSV)
    with pytest.raises(InputError, match=r"two\.zip' holds 2 files; give a zip archive of exactly one CSV file"):
        read_answers(tmp_path / "two.zip")
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match=r"cannot read answers file '.*bad\.csv\.gz' \(.+\); give a valid CSV"):
        read_answers(tmp_path / "bad.csv.gz")


def test_standard_input(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(ANSWERS_CSV.encode())))
    assert read_answers("-").value.tolist() == [1.5, 2.5, 10.0, -4.0]
    pd.read_csv(io.StringIO(ANSWERS_CSV)).to_parquet(tmp_path / "a.parquet")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO((tmp_path / "a.parquet").read_bytes())))
    assert read_answers("-").n_answers == 4  # Parquet is recognised by its content
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"")))
    with pytest.raises(InputError, match=r"^answers from standard input is empty"):
        read_answers("-")


def test_named_pipe_input(tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "answers.csv"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(ANSWERS_CSV))
    writer.start()
    assert read_answers(fifo).n_answers == 4  # read once (a pipe cannot be re-opened)
    writer.join(timeout=30)
