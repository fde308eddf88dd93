"""The flat arrays an aggregator's math runs on, in whichever array backend is in use."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from truthguard.core.answers import Answers
from truthguard.core.backend import Array, ArrayBackend
from truthguard.core.segments import segment_order

__all__ = ["Claims"]


@dataclass(frozen=True)
class Claims:
    """Integer-coded answers as backend arrays, plus the counts every method needs.

    Attributes:
        task: Task code per answer.
        worker: Worker code per answer.
        value: Value per answer (the only array an attacker's gradient flows through).
        n_tasks: Number of task codes.
        n_workers: Number of worker codes.
        task_counts: Answers per task (float).
        worker_counts: Answers per worker (float).
        order: The permutation sorting the answers by task, then value (ties in answer order), when it is
            already known; :meth:`value_order` computes it otherwise. Differentiation supplies it from NumPy: a
            permutation has no derivative, and sorting on the host is exact and fast.
        answers_before: When these claims are one partition of the answers (whole tasks, in task order;
            see :mod:`truthguard.aggregators.partitions`), the answers of the partitions before it; with
            ``answers_total`` it places the partition in draws made once per answer of the whole.
        answers_total: The answers of all partitions; None when these claims are all the answers.
        anchor: Per task, its known value (NaN where the task is not gold; the answers' scale), or None: an
            iterative method keeps gold tasks' truths at their value (:meth:`IterativeAggregator._anchored`).

    In a partition, ``n_workers`` and ``worker_counts`` are those of the whole: worker codes are global.
    """

    task: Array
    worker: Array
    value: Array
    n_tasks: int
    n_workers: int
    task_counts: Array
    worker_counts: Array
    order: Array | None = None
    answers_before: int = 0
    answers_total: int | None = None
    anchor: Array | None = None

    @classmethod
    def from_answers(cls, answers: Answers) -> Claims:
        """NumPy claims of validated answers."""
        return cls(
            task=answers.task,
            worker=answers.worker,
            value=answers.value,
            n_tasks=answers.n_tasks,
            n_workers=answers.n_workers,
            task_counts=answers.task_counts().astype(np.float64),
            worker_counts=answers.worker_counts().astype(np.float64),
            anchor=answers.gold,
        )

    def with_values(self, value: Array) -> Claims:
        """The same claims with other values (e.g. an attacker's candidate); the value order is forgotten."""
        return replace(self, value=value, order=None)

    def value_order(self, be: ArrayBackend) -> Array:
        """The permutation sorting the answers by task, then value (``order`` when given).

        Every per-task order statistic (median, weighted median, trimmed mean) of the values, or of any
        per-task increasing transform of them (standardised values), reads it.
        """
        if self.order is not None:
            return self.order
        return segment_order(be, self.value, self.task, self.n_tasks)
