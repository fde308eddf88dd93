"""The worker report: one row per worker of a fit, what a platform reads to decide whom to trust (issue #11)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from truthguard.core.answers import Answers

__all__ = ["workers_report"]


def workers_report(model: Any, answers: Answers) -> pd.DataFrame:
    """One row per worker of ``model``'s fit on ``answers``.

    Columns: ``worker``; ``weight`` (``weights_``) and ``weight_share`` (its share of all weights: how much of
    the estimates the worker moves, for methods whose estimate is a weighted mean); ``answers``;
    ``mean_abs_deviation`` from the estimates over its answers (gold tasks: from their known value);
    ``gold_answers`` and ``gold_error`` (mean absolute error on the gold tasks it answered, empty without
    any) when gold tasks were given; ``flagged`` and ``flagged_by``: the screens and detectors that flagged it
    (``gold screen``; a defense's name for the workers it removed).

    Sorted for acting on: flagged workers first, then by ``mean_abs_deviation``, largest first (ties keep the
    workers' order).
    """
    estimates = model.truths_.to_numpy()
    weights = model.weights_.to_numpy()
    counts = answers.worker_counts()
    deviation = np.bincount(answers.worker, weights=np.abs(answers.value - estimates[answers.task]),
                            minlength=answers.n_workers)  # fmt: skip
    total = float(weights.sum())
    report = pd.DataFrame(
        {
            "worker": answers.workers,
            "weight": weights,
            "weight_share": weights / total if total > 0 else np.full(weights.shape, np.nan),
            "answers": counts,
            "mean_abs_deviation": deviation / counts,
        }
    )
    reasons: list[list[str]] = [[] for _ in range(answers.n_workers)]
    record = getattr(model, "gold_record_", None)
    if record is not None:
        report["gold_answers"] = record.gold_answers
        report["gold_error"] = record.gold_error
        for code in np.flatnonzero(record.flagged):
            reasons[code].append("gold screen")
    removed = getattr(model, "removed_", None)
    if removed is not None and len(removed):
        for code in np.flatnonzero(answers.workers.isin(removed)):
            reasons[code].append(f"removed by {model.name}")
    report["flagged"] = [bool(r) for r in reasons]
    report["flagged_by"] = [", ".join(r) for r in reasons]
    order = np.lexsort((-report["mean_abs_deviation"].to_numpy(), ~report["flagged"].to_numpy()))
    return report.iloc[order].reset_index(drop=True)
