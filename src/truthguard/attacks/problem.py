"""An attack instance: the honest answers, the malicious workers' slots, the attacker's view and its objective.

:class:`AttackProblem` is built once per ``poison`` call. It fixes which tasks each malicious worker answers,
what the attacker knows, and the value it maximises; every attack then only chooses the malicious values
(one per slot) and :meth:`AttackProblem.poisoned` assembles the result.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.aggregators.base import Aggregator
from truthguard.aggregators.basic import Median
from truthguard.attacks.threat import ThreatModel, round_half_up
from truthguard.core.answers import Answers
from truthguard.core.bounds import Bounds
from truthguard.core.goals import Goal
from truthguard.core.labels import align_to_labels, show, unknown_labels
from truthguard.core.resources import check_memory
from truthguard.core.sampling import sample_distinct
from truthguard.errors import InputError, TruthGuardWarning

__all__ = ["AttackProblem", "PoisonedAnswers"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class PoisonedAnswers:
    """Honest and malicious answers together, with which are which.

    Attributes:
        answers: All answers (honest workers first in the worker codes, malicious ones after).
        malicious: Per answer (aligned with ``answers``' arrays), True for a malicious worker's answer.
        malicious_workers: Labels of the malicious workers.
        honest: The honest answers alone, as given to the attack.
    """

    answers: Answers
    malicious: BoolArray
    malicious_workers: pd.Index
    honest: Answers

    @property
    def n_malicious(self) -> int:
        return len(self.malicious_workers)

    @property
    def worker_is_malicious(self) -> pd.Series:
        """Per worker (indexed by worker label), True for the malicious ones."""
        mask = np.arange(self.answers.n_workers) >= self.honest.n_workers
        return pd.Series(mask, index=self.answers.workers.rename("worker"), name="malicious")

    def to_frame(self) -> pd.DataFrame:
        """Columns ``task``, ``worker``, ``value``, ``malicious``."""
        frame = self.answers.to_frame()
        frame["malicious"] = self.malicious
        return frame

    def malicious_answer_share(self) -> pd.Series:
        """Per task, the share of its answers that come from malicious workers."""
        counts = self.answers.task_counts()
        bad = np.bincount(self.answers.task[self.malicious], minlength=self.answers.n_tasks)
        return pd.Series(bad / counts, index=self.answers.tasks.rename("task"), name="malicious_share")


@dataclass(frozen=True, eq=False)
class AttackProblem:
    """One attack instance: what the malicious workers answer, what the attacker sees, what it maximises.

    A *slot* is one malicious answer (a task and a malicious worker); attacks choose one value per slot.

    Attributes:
        honest: The honest answers.
        threat: The threat model.
        low: Lower bound per slot.
        high: Upper bound per slot.
        slot_task: Task code (in ``honest``) per slot, sorted by task then malicious worker.
        slot_worker: Malicious worker index (0..k-1) per slot.
        combined: Honest plus malicious answers (malicious values set to ``low``), canonical order.
        positions: Index of each slot in ``combined``'s arrays.
        view: What the attacker computes on: known honest answers plus the slots on tasks it knows.
        view_positions: Index in ``view``'s arrays of each known slot.
        slot_view_task: Task code in ``view`` of each slot; -1 where the attacker does not know the task.
        reference: The aggregator's estimate per view task on the known honest answers ("before"); the
            per-task median when no aggregator is given.
        targets: Target per view task (NaN where none), for the targeted goal.
    """

    honest: Answers
    threat: ThreatModel
    low: FloatArray
    high: FloatArray
    slot_task: IntArray
    slot_worker: IntArray
    combined: Answers
    positions: IntArray
    view: Answers
    view_positions: IntArray
    slot_view_task: IntArray
    view_honest: Answers
    reference: FloatArray
    targets: FloatArray
    malicious_workers: pd.Index
    _memo: dict[tuple[int, bytes], float] = field(default_factory=dict, repr=False)

    @property
    def n_slots(self) -> int:
        return len(self.slot_task)

    @property
    def n_malicious(self) -> int:
        return len(self.malicious_workers)

    @property
    def known_slots(self) -> BoolArray:
        """Per slot, True when its task is in the attacker's view."""
        return self.slot_view_task >= 0

    # ------------------------------------------------------------------ construction

    @classmethod
    def build(
        cls,
        honest: Answers,
        bounds: Bounds,
        threat: ThreatModel,
        aggregator: Aggregator | None,
        rng: np.random.Generator,
        bytes_per_answer: float = 160.0,
    ) -> AttackProblem:
        """Draw the malicious workers' tasks and the attacker's knowledge, and compute its reference estimate.

        The random draws happen in a fixed order (slots, then known workers), so every attack given the same
        seed faces the same problem. Before anything is allocated, the memory of the attack (``bytes_per_answer``
        times the answers after poisoning) is checked against what is available.

        Raises:
            ResourceError: The attack would not fit in memory.
        """
        bounds.check(honest)
        task_low, task_high = bounds.arrays(honest.tasks)
        k = threat.n_malicious_for(honest.n_workers)
        each = _tasks_each(honest, threat)
        check_memory(
            bytes_per_answer * (honest.n_answers + k * each),
            f"adding {k:,} malicious workers answering {each:,} tasks each ({k * each:,} malicious answers beside "
            f"{honest.n_answers:,} honest ones)",
            "use fewer malicious workers (fraction or n_malicious; CLI --fraction, --n-malicious) or fewer tasks each "
            "(tasks_per_worker='mean'; CLI --tasks-per-worker mean)",
        )
        slot_task, slot_worker = _slots(honest, each, k, rng)
        workers = _extend_workers(honest.workers, k)
        combined = Answers.from_codes(
            honest.tasks,
            workers,
            np.concatenate([honest.task, slot_task]),
            np.concatenate([honest.worker, honest.n_workers + slot_worker]),
            np.concatenate([honest.value, task_low[slot_task]]),
        )
        # Malicious worker codes are the largest, so within a task the slots come last, in worker order: the
        # same order as the slots themselves.
        positions = np.flatnonzero(combined.worker >= honest.n_workers)

        known_workers = _known_workers(honest.n_workers, threat, rng)
        known_answer = np.concatenate([known_workers, np.ones(k, dtype=bool)])[combined.worker]
        known_task = np.zeros(honest.n_tasks, dtype=bool)
        known_task[honest.task[known_workers[honest.worker]]] = True
        keep = known_answer & known_task[combined.task]
        view = combined.select(keep)
        view_malicious = (combined.worker >= honest.n_workers)[keep]
        # Every view task has a known honest answer, so dropping the malicious answers keeps the task coding.
        view_honest = view.select(~view_malicious)
        reference_model = aggregator if aggregator is not None else Median()
        return cls(
            honest=honest,
            threat=threat,
            low=task_low[slot_task],
            high=task_high[slot_task],
            slot_task=slot_task,
            slot_worker=slot_worker,
            combined=combined,
            positions=positions,
            view=view,
            view_positions=np.flatnonzero(view_malicious),
            slot_view_task=view.tasks.get_indexer(honest.tasks[slot_task]).astype(np.int64),
            view_honest=view_honest,
            reference=_estimate(reference_model, view_honest, view.tasks),
            targets=_targets(threat, honest, view),
            malicious_workers=workers[honest.n_workers :],
        )

    # ------------------------------------------------------------------ using it

    def view_answers(self, values: FloatArray) -> Answers:
        """The attacker's view with the known slots set to ``values[known_slots]`` (``values``: one per slot)."""
        view_values = self.view.value.copy()
        view_values[self.view_positions] = values[self.known_slots]
        return self.view.with_values(view_values)

    def estimate(self, aggregator: Aggregator | Any, answers: Answers) -> FloatArray:
        """``aggregator``'s estimate per view task on ``answers`` (a view with or without malicious answers)."""
        return _estimate(aggregator, answers, self.view.tasks)

    @property
    def goal(self) -> Goal:
        """The attacker's goal on the view's tasks (deviation from ``reference``, or ``targets``)."""
        return Goal(self.threat.goal, self.reference, self.targets)

    def score(self, estimate: FloatArray) -> float:
        """The attacker's objective for an estimate per view task (larger is better for the attacker)."""
        return float(self.goal.score(np, estimate))

    def objective(self, aggregator: Aggregator | Any, values: FloatArray) -> float:
        """The attacker's objective for malicious ``values`` (one per slot), with the converged aggregator.

        The last few evaluations are remembered: at scale one costs a full aggregator run, and the attack's
        final value is usually one already evaluated during the search.
        """
        key = (id(aggregator), hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).digest())
        if key not in self._memo:
            if len(self._memo) >= 4:
                self._memo.pop(next(iter(self._memo)))
            self._memo[key] = self.score(self.estimate(aggregator, self.view_answers(values)))
        return self._memo[key]

    def _per_slot(self, per_view_task: FloatArray, unknown: FloatArray) -> FloatArray:
        """A per-view-task array read at each slot's task; ``unknown`` (per slot) where the task is not known."""
        known = self.known_slots
        out = np.array(unknown, dtype=np.float64)
        out[known] = per_view_task[self.slot_view_task[known]]
        return out

    def reference_per_slot(self) -> FloatArray:
        """The reference ("before") estimate of each slot's task; the task's bounds midpoint where unknown."""
        return self._per_slot(self.reference, 0.5 * (self.low + self.high))

    def target_per_slot(self) -> FloatArray:
        """Each slot's target (NaN where its task has none)."""
        return self._per_slot(self.targets, np.full(self.n_slots, np.nan))

    def _slot_goal(self) -> Goal:
        """The goal read at each slot's task (unknown tasks: the bounds' midpoint, no target)."""
        return Goal(self.threat.goal, self.reference_per_slot(), self.target_per_slot())

    def far_bound(self) -> FloatArray:
        """Per slot, the bound the goal gains most by pushing towards (:meth:`Goal.upward`): the one farthest
        from the reference estimate, or beyond the target.

        Slots on tasks the attacker does not know get the upper bound.
        """
        up = self._slot_goal().upward(self.low, self.high)
        up[~self.known_slots] = True
        return np.where(up, self.high, self.low)

    def pushed(self) -> BoolArray:
        """Per slot, whether the goal wants its value moved (:meth:`Goal.wanted`)."""
        return self._slot_goal().wanted()

    def poisoned(self, values: FloatArray) -> PoisonedAnswers:
        """The full poisoned answers for ``values`` (one per slot; unknown slots as given)."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.n_slots,):
            raise InputError(f"expected {self.n_slots} malicious values, got shape {values.shape}")
        if np.any(values < self.low) or np.any(values > self.high):
            raise InputError("malicious values must lie within their tasks' bounds")
        all_values = self.combined.value.copy()
        all_values[self.positions] = values
        answers = self.combined.with_values(all_values)
        malicious = answers.worker >= self.honest.n_workers
        return PoisonedAnswers(answers, malicious, self.malicious_workers, self.honest)


def _estimate(aggregator: Aggregator | Any, answers: Answers, tasks: pd.Index) -> FloatArray:
    """``aggregator``'s estimate on ``answers``, aligned with ``tasks``.

    TruthGuard aggregators receive the coded answers; any other object only needs ``fit_predict`` on a
    DataFrame with columns ``task``, ``worker``, ``value`` returning a Series indexed by task.
    """
    # The attacker's own evaluations: a dominated-estimate warning would repeat for every candidate.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruthGuardWarning)
        if isinstance(aggregator, Aggregator):
            estimate = aggregator.clone().fit(answers).truths_
        else:
            estimate = aggregator.fit_predict(answers.to_frame())
        if not isinstance(estimate, pd.Series):
            raise InputError(f"{type(aggregator).__name__}.fit_predict must return a Series indexed by task")
    aligned = align_to_labels(estimate, tasks)
    if np.isnan(aligned).any():
        missing = tasks[int(np.flatnonzero(np.isnan(aligned))[0])]
        raise InputError(f"the aggregator gave no estimate for task {show(missing)}")
    return aligned


def _tasks_each(honest: Answers, threat: ThreatModel) -> int:
    """How many tasks each malicious worker answers."""
    per_worker = threat.tasks_per_worker
    if per_worker is None:
        return honest.n_tasks
    m = round_half_up(Fraction(honest.n_answers, honest.n_workers)) if per_worker == "mean" else int(per_worker)
    if m > honest.n_tasks:
        raise InputError(f"tasks_per_worker={m} exceeds the {honest.n_tasks} tasks; give at most that")
    return max(m, 1)


def _slots(honest: Answers, each: int, k: int, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    """(task code, malicious worker) of every malicious answer, sorted by task then worker."""
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if each == honest.n_tasks:
        tasks = np.broadcast_to(np.arange(honest.n_tasks, dtype=np.int64), (k, honest.n_tasks))
    else:
        tasks = sample_distinct(rng, k, honest.n_tasks, each)
    worker = np.repeat(np.arange(k, dtype=np.int64), tasks.shape[1])
    task = tasks.ravel()
    order = np.lexsort((worker, task))
    return task[order], worker[order]


def _extend_workers(workers: pd.Index, k: int) -> pd.Index:
    """Honest worker labels followed by ``k`` new labels that clash with none of them.

    Numeric worker ids stay numeric, so the column keeps one type (Parquet needs it): the sequence continues
    after the largest id (max + 1, …) when those are exactly representable in the ids' type, and otherwise
    the smallest non-negative integers not in use are taken (e.g. after an id of 2**63 - 1; float ids are exact
    integers only up to 2**53). Other ids get
    text labels ``malicious-1``, ….
    """
    if k == 0:
        return workers
    dtype = workers.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        existing = workers.to_numpy()
        limit = int(np.iinfo(existing.dtype).max) if np.issubdtype(existing.dtype, np.integer) else 2**53
        top = float(np.max(existing))
        if math.isfinite(top) and math.floor(top) + k <= limit:
            start = math.floor(top) + 1
            fresh = np.arange(start, start + k, dtype=np.int64) if start + k <= 2**63 else None
        else:
            fresh = None
        if fresh is None:
            fresh = np.setdiff1d(np.arange(len(existing) + k, dtype=np.int64), existing)[:k]
        return workers.append(pd.Index(fresh).astype(dtype))
    prefix = "malicious-"
    existing_text = set(map(str, workers))
    while any(f"{prefix}{j}" in existing_text for j in range(1, k + 1)):
        prefix = "_" + prefix
    text_dtype = dtype if pd.api.types.is_string_dtype(dtype) else object
    return workers.append(pd.Index([f"{prefix}{j}" for j in range(1, k + 1)], dtype=text_dtype))


def _known_workers(n_honest: int, threat: ThreatModel, rng: np.random.Generator) -> BoolArray:
    known = np.zeros(n_honest, dtype=bool)
    if threat.knowledge == "full":
        known[:] = True
    else:
        count = max(1, round_half_up(Fraction(str(threat.known_fraction)) * n_honest))
        known[rng.choice(n_honest, size=count, replace=False)] = True
    return known


def _targets(threat: ThreatModel, honest: Answers, view: Answers) -> FloatArray:
    if threat.targets is None:
        return np.full(view.n_tasks, np.nan)
    targets = threat.targets
    unknown = unknown_labels(pd.Index(targets.index), honest.tasks)
    if len(unknown):
        raise InputError(f"targets name {len(unknown)} task(s) without answers, e.g. {show(unknown[0])}; remove them")
    aligned = align_to_labels(targets, view.tasks)
    if np.isnan(aligned).all():
        raise InputError("no target task is among the tasks the attacker knows; raise known_fraction")
    return aligned
