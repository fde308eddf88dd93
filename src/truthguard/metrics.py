"""Accuracy of estimates: MAE and RMSE against ground truth, and the deviation between two estimates.

All metrics are computed over the tasks present in both Series (matched by task id) and report how many
that was, because real ground truth often covers only part of the tasks (Weather has no truth for one entry).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.core.labels import align_to_labels
from truthguard.errors import InputError

__all__ = ["Scores", "deviation", "evaluate", "mae", "rmse"]


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


def _paired(estimates: pd.Series, reference: pd.Series, what: str) -> tuple[npt.NDArray[np.float64], ...]:
    aligned = align_to_labels(reference, pd.Index(estimates.index))
    present = ~np.isnan(aligned)
    if not present.any():
        raise InputError(f"no task of the estimates has a {what}; check that the task ids match")
    return estimates.to_numpy(dtype=np.float64)[present], aligned[present]


def evaluate(estimates: pd.Series, truth: pd.Series) -> Scores:
    """MAE, RMSE and count of ``estimates`` (indexed by task) against ``truth`` (indexed by task).

    Examples:
        >>> import pandas as pd
        >>> evaluate(pd.Series([1.0, 4.0], index=["a", "b"]), pd.Series([2.0, 2.0, 9.0], index=["a", "b", "c"]))
        Scores(mae=1.5, rmse=1.5811388300841898, n=2)
    """
    estimate, reference = _paired(estimates, truth, "ground truth")
    error = estimate - reference
    return Scores(float(np.mean(np.abs(error))), float(np.sqrt(np.mean(error * error))), int(error.size))


def mae(estimates: pd.Series, truth: pd.Series) -> float:
    """Mean absolute error over the tasks with truth (see :func:`evaluate`)."""
    return evaluate(estimates, truth).mae


def rmse(estimates: pd.Series, truth: pd.Series) -> float:
    """Root mean squared error over the tasks with truth (see :func:`evaluate`)."""
    return evaluate(estimates, truth).rmse


def deviation(after: pd.Series, before: pd.Series) -> float:
    """Mean absolute difference between two estimates of the same tasks, ``mean |after - before|``.

    This is what an attacker without ground truth can measure (and maximise): how far it moved the estimates.
    """
    a, b = _paired(after, before, "second estimate")
    return float(np.mean(np.abs(a - b)))
