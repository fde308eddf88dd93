"""Running an attack against an aggregator and measuring what it did."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from truthguard.aggregators.base import Aggregator, require_aggregator
from truthguard.attacks.base import Attack
from truthguard.attacks.problem import PoisonedAnswers
from truthguard.attacks.threat import ThreatModel
from truthguard.core.answers import Answers
from truthguard.core.bounds import Bounds
from truthguard.core.sampling import RandomState
from truthguard.errors import InputError
from truthguard.metrics import Scores, deviation, evaluate

__all__ = ["AttackReport", "clean_fit", "poisoned_fit", "run_attack"]


@dataclass(frozen=True)
class AttackReport:
    """What an attack did to an aggregator's estimates.

    Attributes:
        attack: The attack's registry name.
        aggregator: The registry name of the aggregator the attack was crafted against.
        evaluated_with: The registry name of the aggregator the estimates were measured with (the same one, or
            a defense the attacker did not target: a transferred attack).
        threat: The threat model as plain values.
        n_honest_workers: Honest workers.
        n_malicious: Malicious workers added.
        n_answers: Answers after the attack (honest and malicious).
        malicious_answer_share: Malicious share of all answers.
        task_share_mean: Mean over tasks of the malicious share of a task's answers.
        task_share_max: Largest malicious share of any task's answers.
        malicious_weight_share: The malicious workers' share of the total worker weight in the poisoned fit.
        before: MAE/RMSE of the clean estimates against truth (None without truth).
        after: MAE/RMSE of the poisoned estimates against truth (None without truth).
        relative_increase: ``(after.mae - before.mae) / before.mae`` (None without truth).
        deviation: Mean over tasks of ``|after - before|`` (what the attacker moved).
        objective: The attacker's own objective on what it knew (see ``Attack.objective_``).
        stage: The stage of the attack's search that produced the values (see ``Attack.stage_``).
        seconds: Wall time of ``poison``.
        under_target: When measured with another aggregator than the one attacked (``evaluated_with``), the
            same figures under the attacked one: ``before``, ``after`` (MAE/RMSE, None without truth) and
            ``deviation``; None otherwise.
        removed: The workers the evaluated method removed from the poisoned answers (MIE, remove-then-
            aggregate: its ``removed_``); None for a method that removes no one.
    """

    attack: str
    aggregator: str
    evaluated_with: str
    threat: dict[str, Any]
    n_honest_workers: int
    n_malicious: int
    n_answers: int
    malicious_answer_share: float
    task_share_mean: float
    task_share_max: float
    malicious_weight_share: float
    before: Scores | None
    after: Scores | None
    relative_increase: float | None
    deviation: float
    objective: float
    stage: str
    seconds: float
    under_target: dict[str, Any] | None = None
    removed: list[Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["before"] = None if self.before is None else self.before.to_dict()
        out["after"] = None if self.after is None else self.after.to_dict()
        if self.under_target is not None:
            out["under_target"] = {k: v.to_dict() if isinstance(v, Scores) else v for k, v in self.under_target.items()}
        return out


def run_attack(
    answers: Answers | pd.DataFrame,
    bounds: Bounds,
    aggregator: Aggregator,
    attack: Attack,
    truth: pd.Series | None = None,
    random_state: RandomState = None,
    evaluate_with: Aggregator | None = None,
    cache: MutableMapping[tuple[str, ...], Any] | None = None,
) -> tuple[AttackReport, PoisonedAnswers]:
    """Poison ``answers`` with ``attack`` against ``aggregator`` and compare the estimates before and after.

    The estimates are those of ``evaluate_with`` when given (an attack crafted against one method, e.g. the
    undefended CRH, measured under another, e.g. a defense: a transferred attack), else of ``aggregator``.
    ``cache``, a dictionary shared by calls on the same ``answers``, keeps the fits on the clean answers and
    the poisoned answers (keyed by the methods', the attack's and the seed's ``repr``), so a sweep fits each
    method on the clean answers once and runs each attack once for all the defenses it is measured under.

    Examples:
        >>> from truthguard.aggregators import CRH
        >>> from truthguard.attacks import MaximumAttack, ThreatModel
        >>> from truthguard.datasets import make_synthetic
        >>> from truthguard.experiments import run_attack
        >>> data = make_synthetic(n_tasks=100, n_workers=20, seed=0)
        >>> report, poisoned = run_attack(data.answers, data.bounds, CRH(), MaximumAttack(ThreatModel(0.2)),
        ...                               data.truth, random_state=0)
        >>> report.n_malicious, report.after.mae > report.before.mae
        (5, True)
    """
    require_aggregator(aggregator)  # the report needs its name, clone and weights, not only fit_predict
    judge = aggregator if evaluate_with is None else evaluate_with
    require_aggregator(judge)
    if not isinstance(attack, Attack):
        raise InputError(f"attack must be an attack object, e.g. OptimizedAttack(); got {type(attack).__name__}")
    honest = Answers.coerce(answers)
    key = ("poison", repr(aggregator), repr(attack), repr(random_state))
    if cache is not None and key in cache:
        poisoned, objective, stage, seconds = cache[key]
    else:
        started = time.perf_counter()
        poisoned = attack.poison(honest, bounds, aggregator, random_state=random_state)
        objective, stage, seconds = attack.objective_, attack.stage_, time.perf_counter() - started
        if cache is not None:
            cache[key] = (poisoned, objective, stage, seconds)
    fit, before, after, moved = _measured(judge, honest, poisoned, truth, cache)
    weights = fit.weights_.to_numpy()
    if weights.size and weights.max() > 0:
        weights = weights / weights.max()  # shares only: precisions near the largest double would overflow a sum
    malicious_worker = np.arange(poisoned.answers.n_workers) >= honest.n_workers
    total_weight = float(np.sum(weights))
    shares = poisoned.malicious_answer_share()
    increase = None
    if before is not None and after is not None and before.mae > 0:
        increase = (after.mae - before.mae) / before.mae
    under_target = None
    if judge is not aggregator:
        _, target_before, target_after, target_moved = _measured(aggregator, honest, poisoned, truth, cache)
        under_target = {"before": target_before, "after": target_after, "deviation": target_moved}
    report = AttackReport(
        attack=attack.name,
        aggregator=_label(aggregator),
        evaluated_with=_label(judge),
        threat=(attack.threat or ThreatModel()).describe(),
        n_honest_workers=honest.n_workers,
        n_malicious=poisoned.n_malicious,
        n_answers=poisoned.answers.n_answers,
        malicious_answer_share=float(poisoned.malicious.mean()),
        task_share_mean=float(shares.mean()),
        task_share_max=float(shares.max()),
        malicious_weight_share=float(weights[malicious_worker].sum() / total_weight) if total_weight > 0 else 0.0,
        before=before,
        after=after,
        relative_increase=increase,
        deviation=moved,
        objective=objective,
        stage=stage,
        seconds=seconds,
        under_target=under_target,
        removed=list(fit.removed_) if hasattr(fit, "removed_") else None,
    )
    return report, poisoned


def _label(aggregator: Aggregator) -> str:
    """The registry name, with the base method of a defense: ``mwa(crh)``."""
    base = aggregator.get_params(deep=False).get("base")
    return f"{aggregator.name}({_label(base)})" if isinstance(base, Aggregator) else aggregator.name


def clean_fit(
    aggregator: Aggregator, answers: Answers | pd.DataFrame, cache: MutableMapping[tuple[str, ...], Any] | None
) -> Aggregator:
    """``aggregator`` fitted on the clean ``answers``, from ``cache`` (see :func:`run_attack`) when it has it."""
    key = ("clean", repr(aggregator))
    fitted = None if cache is None else cache.get(key)
    if fitted is None:
        fitted = aggregator.clone().fit(answers)
        if cache is not None:
            cache[key] = fitted
    return fitted


def poisoned_fit(
    aggregator: Aggregator, poisoned: PoisonedAnswers, cache: MutableMapping[tuple[Any, ...], Any] | None
) -> Aggregator:
    """``aggregator`` fitted on the ``poisoned`` answers, from ``cache`` (see :func:`run_attack`) when it has it:
    an attack measured under several defenses fits the method it targeted once, not once per defense."""
    key = ("poisoned", repr(aggregator), poisoned)  # the poisoned set by identity (it hashes so), kept alive
    fitted = None if cache is None else cache.get(key)
    if fitted is None:
        fitted = aggregator.clone().fit(poisoned.answers)
        if cache is not None:
            cache[key] = fitted
    return fitted


def _measured(
    aggregator: Aggregator,
    honest: Answers,
    poisoned: PoisonedAnswers,
    truth: pd.Series | None,
    cache: MutableMapping[tuple[str, ...], Any] | None,
) -> tuple[Aggregator, Scores | None, Scores | None, float]:
    """``aggregator`` fitted on the poisoned answers, its errors before and after (None without truth), and
    the mean deviation between its clean and poisoned estimates."""
    clean = clean_fit(aggregator, honest, cache)
    fit = poisoned_fit(aggregator, poisoned, cache)
    known = truth if truth is not None and len(truth) else None
    before = evaluate(clean.truths_, known) if known is not None else None
    after = evaluate(fit.truths_, known) if known is not None else None
    return fit, before, after, deviation(fit.truths_, clean.truths_)
