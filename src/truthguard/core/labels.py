"""Matching per-task (or per-worker) tables to the labels of an answer table.

Task ids read from two files can come back with different dtypes (``7`` in one, ``"7"`` in the other);
matching falls back to their string forms so that such files still line up.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.errors import InputError

__all__ = ["align_to_labels", "show", "unknown_labels"]


def show(label: object) -> str:
    """``repr`` of an id as the user wrote it: ``2`` and ``'a'``, not NumPy's ``np.int64(2)``."""
    return repr(label.item() if isinstance(label, np.generic) else label)


def _comparable(index: pd.Index, labels: pd.Index) -> tuple[pd.Index, pd.Index]:
    if index.dtype == labels.dtype or index.isin(labels).all():
        return index, labels
    return index.astype(str), labels.astype(str)


def merged_codes(existing: pd.Index, new: pd.Index) -> tuple[pd.Index, npt.NDArray[np.int64]]:
    """``existing`` followed by the ids of ``new`` it lacks, and where each id of ``new`` sits in that union
    (ids compared as text when their types differ, as elsewhere)."""
    left, right = _comparable(new, existing)
    position = right.get_indexer(left).astype(np.int64)
    fresh = position < 0
    position[fresh] = len(existing) + np.arange(int(fresh.sum()))
    return existing.append(new[fresh]), position


def unknown_labels(index: pd.Index, labels: pd.Index) -> pd.Index:
    """The entries of ``index`` that are not among ``labels``."""
    left, right = _comparable(index, labels)
    return index[~left.isin(right)]


def align_to_labels(series: pd.Series, labels: pd.Index) -> npt.NDArray[np.float64]:
    """Values of ``series`` (indexed by label) in the order of ``labels``; NaN where a label has no entry."""
    index, target = _comparable(pd.Index(series.index), labels)
    if index.has_duplicates:
        duplicated = series.index[index.duplicated()][0]
        raise InputError(f"the table gives {show(duplicated)} more than once; keep one row per id")
    aligned = pd.Series(series.to_numpy(dtype=np.float64), index=index).reindex(target)
    # A fresh, writable array: pandas' copy-on-write hands out read-only views, and callers fill the gaps.
    return np.array(aligned.to_numpy(dtype=np.float64), copy=True)
