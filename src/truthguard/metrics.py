"""Accuracy of estimates: MAE and RMSE against ground truth, and the deviation between two estimates.

All metrics are computed over the tasks present in both Series (matched by task id) and report how many
that was, because real ground truth often covers only part of the tasks (Weather has no truth for one entry).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from truthguard.core.labels import align_to_labels, show
from truthguard.errors import InputError

FloatArray = npt.NDArray[np.float64]

__all__ = ["DetectionScores", "Scores", "detection", "deviation", "evaluate", "mae", "rmse", "roc_curve"]


@dataclass(frozen=True)
class Scores:
    r"""Errors of estimates :math:`\hat x_t` against truth :math:`x_t` over the :math:`n` tasks having both.

    Attributes:
        mae: :math:`\frac1n \sum_t |\hat x_t - x_t|`.
        rmse: :math:`\sqrt{\frac1n \sum_t (\hat x_t - x_t)^2}`.
        n: Number of tasks compared.
    """

    mae: float
    rmse: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _as_series(values: Any, name: str) -> pd.Series:
    if isinstance(values, pd.Series):
        series = values
    elif isinstance(values, dict):
        series = pd.Series(values)
    else:
        array = np.asarray(values)
        if array.ndim != 1:
            raise InputError(f"{name} must be a Series indexed by task or a 1-D array; got shape {array.shape}")
        series = pd.Series(array)
    numeric = pd.to_numeric(series, errors="coerce")
    bad = numeric.isna() & series.notna()
    if bad.any():
        raise InputError(
            f"{name} must be numbers; got {show(series[bad].iloc[0])} for task {show(series[bad].index[0])}"
        )
    return numeric.astype(np.float64)


def _paired(estimates: Any, reference: Any, what: str) -> tuple[npt.NDArray[np.float64], ...]:
    """Values of both for the tasks they share: Series are matched by task, arrays (both) by position."""
    arrays = [not isinstance(v, pd.Series | dict) for v in (estimates, reference)]
    if arrays[0] != arrays[1]:
        raise InputError(
            "give the estimates and the reference both as Series indexed by task, or both as arrays of one length"
        )
    estimates, reference = _as_series(estimates, "estimates"), _as_series(reference, what)
    if arrays[0] and len(estimates) != len(reference):
        raise InputError(
            f"the estimates have {len(estimates)} values and the {what} {len(reference)}; give one per task"
        )
    aligned = align_to_labels(reference, pd.Index(estimates.index))
    present = ~np.isnan(aligned) & estimates.notna().to_numpy()
    if not present.any():
        raise InputError(f"no task of the estimates has a {what}; check that the task ids match")
    return estimates.to_numpy(dtype=np.float64)[present], aligned[present]


def evaluate(estimates: pd.Series | npt.ArrayLike, truth: pd.Series | npt.ArrayLike) -> Scores:
    """MAE, RMSE and count of ``estimates`` against ``truth``: Series matched by task id, or arrays by position.

    Tasks missing from either side (or NaN in either) are left out, and ``n`` says how many were compared.

    Examples:
        >>> import pandas as pd
        >>> evaluate(pd.Series([1.0, 4.0], index=["a", "b"]), pd.Series([2.0, 2.0, 9.0], index=["a", "b", "c"]))
        Scores(mae=1.5, rmse=1.5811388300841898, n=2)
    """
    estimate, reference = _paired(estimates, truth, "ground truth")
    error = estimate - reference
    return Scores(float(np.mean(np.abs(error))), float(np.sqrt(np.mean(error * error))), int(error.size))


def mae(estimates: pd.Series | npt.ArrayLike, truth: pd.Series | npt.ArrayLike) -> float:
    """Mean absolute error over the tasks with truth (see :func:`evaluate`)."""
    return evaluate(estimates, truth).mae


def rmse(estimates: pd.Series | npt.ArrayLike, truth: pd.Series | npt.ArrayLike) -> float:
    """Root mean squared error over the tasks with truth (see :func:`evaluate`)."""
    return evaluate(estimates, truth).rmse


def deviation(after: pd.Series | npt.ArrayLike, before: pd.Series | npt.ArrayLike) -> float:
    """Mean absolute difference between two estimates of the same tasks, ``mean |after - before|``.

    This is what an attacker without ground truth can measure (and maximise): how far it moved the estimates.
    """
    a, b = _paired(after, before, "second estimate")
    return float(np.mean(np.abs(a - b)))


@dataclass(frozen=True)
class DetectionScores:
    r"""How well per-worker scores and a flagged set find the malicious workers.

    Attributes:
        precision: Share of the flagged workers that are malicious (0 when none is flagged).
        recall: Share of the malicious workers that are flagged.
        f1: Harmonic mean of precision and recall (0 when both are 0).
        roc_auc: Probability that a malicious worker scores above an honest one (ties count half: the
            Mann-Whitney statistic); NaN-free: 0.5 when either class is empty.
        n_malicious: Malicious workers among those scored.
        n_flagged: Workers flagged.
    """

    precision: float
    recall: float
    f1: float
    roc_auc: float
    n_malicious: int
    n_flagged: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def detection(scores: pd.Series, malicious: pd.Series, flagged: pd.Index | None = None) -> DetectionScores:
    """Precision, recall and F1 of ``flagged`` and the ROC AUC of ``scores`` against the ``malicious`` mask.

    ``scores`` and ``malicious`` (booleans) are Series indexed by worker; every scored worker must have a label.
    ``flagged`` defaults to the workers of the ``n`` largest scores, ``n`` the number of malicious workers.
    """
    labels = malicious.reindex(scores.index)
    if labels.isna().any():
        missing = scores.index[labels.isna().to_numpy()][0]
        raise InputError(f"no malicious label for worker {show(missing)}; label every scored worker")
    truth = labels.astype(bool).to_numpy()
    values = scores.to_numpy(dtype=np.float64)
    n_bad, n_good = int(truth.sum()), int((~truth).sum())
    if flagged is None:
        flagged = scores.index[np.argsort(-values, kind="stable")[:n_bad]]
    hit = int(scores.index.isin(flagged)[truth].sum())
    precision = hit / len(flagged) if len(flagged) else 0.0
    recall = hit / n_bad if n_bad else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    if n_bad and n_good:
        ranks = stats.rankdata(values)  # ties share their average rank
        auc = (ranks[truth].sum() - n_bad * (n_bad + 1) / 2) / (n_bad * n_good)
    else:
        auc = 0.5
    return DetectionScores(precision, recall, f1, float(auc), n_bad, len(flagged))


def roc_curve(scores: npt.ArrayLike, malicious: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    r"""The ROC curve of per-worker ``scores`` (larger: more suspicious) against the boolean ``malicious``.

    For each distinct score :math:`s`, from the largest down, the false-positive rate
    :math:`\mathrm{FPR}(s) = |\{\text{honest}: \text{score} \ge s\}| / n_{\text{honest}}` and the true-positive
    rate :math:`\mathrm{TPR}(s)`, the same over malicious workers; the curve starts at (0, 0) and ends at
    (1, 1). Tied scores are one step (a diagonal segment), so the area under the curve by the trapezoid rule
    equals :attr:`DetectionScores.roc_auc` (ties counting half). A class with no member gives the diagonal.

    Returns:
        ``(fpr, tpr)``, non-decreasing arrays of equal length.
    """
    values = np.asarray(scores, dtype=np.float64).ravel()
    truth = np.asarray(malicious, dtype=bool).ravel()
    if values.shape != truth.shape:
        raise InputError(f"scores and labels differ in length: {values.size} and {truth.size}")
    n_bad, n_good = int(truth.sum()), int((~truth).sum())
    if not n_bad or not n_good:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    order = np.argsort(-values, kind="stable")
    sorted_values, sorted_truth = values[order], truth[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_values) != 0), values.size - 1]
    true_positives = np.cumsum(sorted_truth)[last_of_tie]
    false_positives = (last_of_tie + 1) - true_positives
    return np.r_[0.0, false_positives / n_good], np.r_[0.0, true_positives / n_bad]
