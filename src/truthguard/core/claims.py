"""The flat arrays an aggregator's math runs on, in whichever array backend is in use."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from truthguard.core.answers import Answers
from truthguard.core.backend import Array

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
    """

    task: Array
    worker: Array
    value: Array
    n_tasks: int
    n_workers: int
    task_counts: Array
    worker_counts: Array

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
        )

    def with_values(self, value: Array) -> Claims:
        """The same claims with other values (e.g. an attacker's candidate)."""
        return replace(self, value=value)
