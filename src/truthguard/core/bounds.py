"""Per-task value bounds: the legal range ``[low, high]`` of every task's answers.

Attacks must keep malicious values inside these bounds and defenses may clip to them. Emotion, for instance,
has intensity items in [0, 100] and valence items in [-100, 100], so bounds are one global pair or a
per-task table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.core.answers import Answers
from truthguard.core.labels import align_to_labels, show
from truthguard.errors import InputError

__all__ = ["Bounds"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Bounds:
    """Legal answer range per task: one ``(low, high)`` pair for all tasks, or a per-task table.

    Args:
        low: Lower bound: a number for every task, or a Series indexed by task.
        high: Upper bound, likewise.

    Examples:
        >>> import pandas as pd
        >>> from truthguard import Bounds
        >>> Bounds(0, 100).low
        0.0
        >>> per_task = Bounds.from_frame(pd.DataFrame({"task": [1, 2], "low": [0, -100], "high": [100, 100]}))
        >>> per_task.low.tolist()
        [0.0, -100.0]
    """

    low: float | pd.Series
    high: float | pd.Series

    def __post_init__(self) -> None:
        if isinstance(self.low, pd.Series) != isinstance(self.high, pd.Series):
            raise InputError("give low and high both as numbers or both as per-task Series")
        if isinstance(self.low, pd.Series) and isinstance(self.high, pd.Series):
            if not (self.low.index.sort_values().equals(self.high.index.sort_values())):
                raise InputError("per-task low and high bounds must cover the same tasks, once each")
            if self.low.index.hasnans:
                raise InputError("per-task bounds have a missing task id; give every row a task")
            try:
                low = self.low.astype(np.float64)
                high = self.high.reindex(self.low.index).astype(np.float64)
            except (TypeError, ValueError):
                raise InputError("per-task bounds must be numbers") from None
            object.__setattr__(self, "low", low)
            object.__setattr__(self, "high", high)
            _check_pairs(low.to_numpy(np.float64), high.to_numpy(np.float64), low.index)
        else:
            try:
                low_f, high_f = float(self.low), float(self.high)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise InputError(f"bounds must be numbers; got low={self.low!r}, high={self.high!r}") from None
            object.__setattr__(self, "low", low_f)
            object.__setattr__(self, "high", high_f)
            _check_pairs(
                np.array([low_f], dtype=np.float64), np.array([high_f], dtype=np.float64), pd.Index(["all tasks"])
            )

    @property
    def is_global(self) -> bool:
        """True when one pair applies to every task."""
        return not isinstance(self.low, pd.Series)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Bounds:
        """Per-task bounds from a table with columns ``task``, ``low``, ``high``."""
        missing = [c for c in ("task", "low", "high") if c not in frame.columns]
        if missing:
            raise InputError(f"bounds table is missing column(s) {', '.join(missing)}; give columns task, low, high")
        if frame["task"].duplicated().any():
            task = frame.loc[frame["task"].duplicated(), "task"].iloc[0]
            raise InputError(f"bounds table gives task {show(task)} more than once; keep one row per task")
        columns = {}
        for name in ("low", "high"):
            values = pd.to_numeric(frame[name], errors="coerce")
            if values.isna().any():
                row = int(np.flatnonzero(values.isna().to_numpy())[0])
                raise InputError(f"bounds table has a non-numeric or missing {name} at row {row + 1}; give numbers")
            columns[name] = pd.Series(values.to_numpy(np.float64), index=pd.Index(frame["task"], name="task"))
        return cls(columns["low"], columns["high"])

    def arrays(self, tasks: pd.Index) -> tuple[FloatArray, FloatArray]:
        """``(low, high)`` arrays aligned with ``tasks`` (e.g. ``answers.tasks``).

        Raises:
            InputError: A per-task table lacks some of ``tasks``.
        """
        n = len(tasks)
        if isinstance(self.low, pd.Series) and isinstance(self.high, pd.Series):
            low = align_to_labels(self.low, tasks)
            high = align_to_labels(self.high, tasks)
            missing = np.isnan(low)
            if missing.any():
                first = tasks[int(np.flatnonzero(missing)[0])]
                raise InputError(
                    f"bounds table has no row for {int(missing.sum())} task(s), e.g. {show(first)}; add them or use "
                    "one global pair"
                )
            return low, high
        return np.full(n, float(self.low)), np.full(n, float(self.high))  # type: ignore[arg-type]

    def check(self, answers: Answers) -> None:
        """Raise :class:`InputError` if any answer lies outside its task's bounds."""
        low, high = self.arrays(answers.tasks)
        outside = (answers.value < low[answers.task]) | (answers.value > high[answers.task])
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            t = int(answers.task[i])
            raise InputError(
                f"{int(outside.sum())} answer(s) lie outside their bounds, e.g. value {answers.value[i]:g} of task "
                f"{show(answers.tasks[t])} (worker {show(answers.workers[answers.worker[i]])}) is outside "
                f"[{low[t]:g}, {high[t]:g}]; fix the values or widen the bounds"
            )

    def __repr__(self) -> str:
        if self.is_global:
            return f"Bounds({self.low:g}, {self.high:g})"
        assert isinstance(self.low, pd.Series)
        return f"Bounds(<per-task table of {len(self.low)} tasks>)"


def _check_pairs(low_values: npt.ArrayLike, high_values: npt.ArrayLike, index: pd.Index) -> None:
    low = np.asarray(low_values, dtype=np.float64)
    high = np.asarray(high_values, dtype=np.float64)
    bad = ~(np.isfinite(low) & np.isfinite(high) & (low <= high))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"bounds for {show(index[i])} are invalid: low={low[i]:g}, high={high[i]:g}; "
            "give finite numbers with low <= high"
        )
