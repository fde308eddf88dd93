"""Gold tasks: tasks whose value the platform knows, used as anchors and as a screen of the workers.

A platform slips tasks with a known answer among the others. TruthGuard uses them three ways (issue #11):

* **kept**: a gold task's estimate is its known value, whatever the answers say;
* **anchor**: an iterative method measures the workers' distances on gold tasks from the known value instead
  of from its own estimate (the truth step leaves them at their value), so the weights learn from them;
* **screen**: a worker whose mean absolute error on the gold tasks it answered is more than ``factor`` times
  the median worker's is flagged, and with screening on, its answers are left out of the fit.

Anchoring alone helps little against a poisoning attack: CRH's weights, :math:`-\\log` of a worker's share of
the distances, compress large distances, so a far-off attacker keeps much of its weight. Screening removes
attackers that do not look honest on the gold tasks; an attacker that does not know which tasks are gold
must then look honest everywhere it might be tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.core.answers import Answers
from truthguard.core.io import task_values_from_frame
from truthguard.core.labels import align_to_labels, show, unknown_labels
from truthguard.errors import InputError

__all__ = ["DEFAULT_SCREEN_FACTOR", "GoldScreen", "align_gold", "screen_factor", "screen_workers"]

FloatArray = npt.NDArray[np.float64]

#: A worker is flagged when its mean gold error exceeds this many times the median worker's.
DEFAULT_SCREEN_FACTOR = 3.0


def align_gold(gold: pd.Series | pd.DataFrame, answers: Answers) -> FloatArray:
    """The known values per task code of ``answers`` (NaN where a task is not gold).

    Args:
        gold: A Series indexed by task (the known values), or a table with columns ``task`` and ``truth``.
        answers: The answers the gold tasks belong to.

    Raises:
        InputError: Not a Series or table, missing columns, no rows, non-numeric or non-finite values, a task
            given twice, or tasks that have no answers.
    """
    if isinstance(gold, pd.DataFrame):
        series = task_values_from_frame(gold, "truth", source="gold")
    elif isinstance(gold, pd.Series):
        if len(gold) == 0:
            raise InputError("gold has no tasks; give at least one task with its known value")
        frame = pd.DataFrame({"task": gold.index.to_numpy(), "truth": gold.to_numpy()})
        series = task_values_from_frame(frame, "truth", source="gold")
    else:
        raise InputError(
            f"gold must be a pandas Series (task -> known value) or a table with columns task, truth; "
            f"got {type(gold).__name__}"
        )
    unknown = unknown_labels(pd.Index(series.index), answers.tasks)
    if len(unknown):
        raise InputError(
            f"gold names {len(unknown)} task(s) that have no answers, e.g. {show(unknown[0])}; "
            "remove them or check that the task ids match the answers"
        )
    return align_to_labels(series, answers.tasks)


def screen_factor(gold_screen: bool | float) -> float:
    """The screen's factor from a ``gold_screen`` option: True or False give :data:`DEFAULT_SCREEN_FACTOR`
    (False: flag only), a number > 0 is the factor itself.

    Raises:
        InputError: Anything else.
    """
    if isinstance(gold_screen, bool | np.bool_):
        return DEFAULT_SCREEN_FACTOR
    try:
        factor = float(gold_screen)
    except (TypeError, ValueError):
        factor = math.nan
    if not (math.isfinite(factor) and factor > 0):
        raise InputError(f"gold_screen must be True, False or a factor > 0; got {gold_screen!r}")
    return factor


@dataclass(frozen=True)
class GoldScreen:
    """Each worker's record on the gold tasks, and who the screen flags.

    Attributes:
        gold_answers: Per worker code, how many gold tasks it answered.
        gold_error: Per worker code, its mean absolute error on them (NaN for a worker with none).
        threshold: The error above which a worker is flagged: ``factor`` times the median of the workers'
            gold errors (over the workers with gold answers).
        flagged: Per worker code, whether it is flagged (never a worker without gold answers).
    """

    gold_answers: npt.NDArray[np.int64]
    gold_error: FloatArray
    threshold: float
    flagged: npt.NDArray[np.bool_]

    def reasons(self, workers: pd.Index) -> pd.DataFrame:
        """The flagged workers with why: columns ``worker``, ``gold_answers``, ``gold_error``, ``threshold``."""
        codes = np.flatnonzero(self.flagged)
        return pd.DataFrame(
            {
                "worker": workers.take(codes),
                "gold_answers": self.gold_answers[codes],
                "gold_error": self.gold_error[codes],
                "threshold": np.full(codes.size, self.threshold),
            }
        )


def screen_workers(answers: Answers, known: FloatArray, factor: float = DEFAULT_SCREEN_FACTOR) -> GoldScreen:
    r"""Each worker's mean absolute error on the gold tasks it answered,
    :math:`e_i = \frac{1}{|G_i|}\sum_{m \in G_i} |x_i^m - x_m^{\text{gold}}|`, and the workers flagged:
    :math:`e_i > \text{factor} \cdot \operatorname{median}_{i'} e_{i'}` (the median over workers with gold
    answers, so a minority of bad workers cannot move it far).

    Args:
        answers: The answers.
        known: Per task code, the known value or NaN (:func:`align_gold`).
        factor: How many times the median worker's error flags a worker.
    """
    factor = screen_factor(factor)
    is_gold = ~np.isnan(known)
    on_gold = is_gold[answers.task]
    error = np.abs(answers.value[on_gold] - known[answers.task[on_gold]])
    worker = answers.worker[on_gold]
    counts = np.bincount(worker, minlength=answers.n_workers)
    totals = np.bincount(worker, weights=error, minlength=answers.n_workers)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_error = np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)
    answered = counts > 0
    threshold = float(factor * np.median(mean_error[answered])) if answered.any() else np.inf
    flagged = answered & (mean_error > threshold)
    return GoldScreen(counts.astype(np.int64), mean_error, threshold, flagged)
