"""Vulnerability audit: how far could k malicious workers move a platform's own estimates, with and without
each defense, and which protection to publish with.

For each number of attackers :math:`k` (by default 1, 2, 4, … up to the largest share the platform wants to
guard against) the audit adds :math:`k` malicious workers with full knowledge of the honest answers and
runs the strongest attack the library has against the platform's method (the optimised attack when the
method is differentiable, the black-box attack otherwise). It measures the deviation
:math:`D_p(k) = \\frac{1}{|T|}\\sum_t |\\hat x_t^{\\text{poisoned}} - \\hat x_t^{\\text{clean}}|` of each
protection :math:`p` (the method itself and each defense around it) under the worst of two attacks: the one
crafted against the method (transferred) and one crafted against :math:`p` itself (adaptive). No ground
truth is needed; when it is given, errors are reported too.

A defense also costs something on clean data: :math:`C_p(k)`, the mean absolute difference between its
clean estimates and the method's (a removing defense told to expect :math:`k` attackers removes :math:`k`
workers even when there are none). By the triangle inequality the published estimate under attack is within
:math:`B_p(k) = D_p(k) + C_p(k)` of the method's clean estimate on average, whatever the truth; the audit
recommends, for each :math:`k`, the protection with the smallest bound.
"""

from __future__ import annotations

import functools
import os
import secrets
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from truthguard.aggregators.base import Aggregator, require_aggregator
from truthguard.attacks.base import Attack
from truthguard.attacks.blackbox import BlackBoxAttack
from truthguard.attacks.optimized import OptimizedAttack
from truthguard.attacks.problem import PoisonedAnswers
from truthguard.attacks.threat import ThreatModel
from truthguard.core.answers import Answers
from truthguard.core.bounds import Bounds
from truthguard.core.output import json_values
from truthguard.core.progress import progress
from truthguard.defenses.registry import make_defense
from truthguard.errors import InputError, TruthGuardWarning
from truthguard.experiments.config import Entry
from truthguard.experiments.evaluate import AttackReport, clean_fit, poisoned_fit, run_attack
from truthguard.experiments.parallel import parallel_map
from truthguard.metrics import deviation

__all__ = ["DEFAULT_DEFENSES", "UNDEFENDED", "Audit", "audit", "audit_sizes"]

UNDEFENDED = "none"
#: The defenses audited when none are named: MWA as the study defines it (G = 5 random groups), the weighted
#: median with the method's weights (MWA with one group per answer), and removing the workers who coordinate.
DEFAULT_DEFENSES = (
    Entry("mwa"),
    Entry("mwa", {"n_groups": None, "weighted_median": True}),
    Entry("remove", {"detector": "collusion"}),
)


@dataclass(frozen=True)
class Audit:
    """What an audit found (see :func:`audit`).

    Attributes:
        method: The method's registry name.
        n_tasks: Tasks in the answers.
        n_workers: Honest workers (the answers' workers).
        n_answers: Answers.
        sizes: The numbers of attackers :math:`k` audited.
        tasks_per_worker: Tasks each malicious worker answers (None: every task; "mean": as many as an average
            honest worker).
        attacks: Every attack measured: one row per ``k``, ``protection`` and ``mode`` (``transfer``: crafted
            against the undefended method; ``adaptive``: against the protection itself; the undefended
            method's row is ``adaptive``), with the ``attack`` used, the search ``stage`` that won, the
            ``deviation`` :math:`D`, the attackers' share of the weight (``weight_share``) and their mean
            share of a task's answers (``task_share``), for removing defenses how many of the attackers they
            removed (``removed_attackers``), its ``clean_cost`` :math:`C` (below), and with truth
            ``mae_clean`` and ``mae``.
        curve: Per ``k`` and ``protection``, the stronger of its attacks (its row of ``attacks``) and the
            ``bound`` :math:`B = D + C`.
        tasks: Per ``k``, the undefended method's most moved tasks: ``task``, ``clean``, ``poisoned``,
            ``shift``, ``malicious_answers``, ``honest_answers``.
        recommendation: Per ``k``, the ``protection`` with the smallest bound, its ``bound``, and the
            undefended method's ``deviation`` for comparison.
    """

    method: str
    n_tasks: int
    n_workers: int
    n_answers: int
    sizes: tuple[int, ...]
    tasks_per_worker: int | str | None
    attacks: pd.DataFrame
    curve: pd.DataFrame
    tasks: pd.DataFrame
    recommendation: pd.DataFrame

    def recommended(self, k: int | None = None) -> str:
        """The protection recommended against ``k`` attackers (default: the largest ``k`` audited)."""
        k = self.sizes[-1] if k is None else k
        rows = self.recommendation[self.recommendation["k"] == k]
        if rows.empty:
            raise InputError(f"k={k} was not audited; audited: {', '.join(map(str, self.sizes))}")
        return str(rows["protection"].iloc[0])

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON (the tables as lists of records)."""
        return {
            "method": self.method, "n_tasks": self.n_tasks, "n_workers": self.n_workers,
            "n_answers": self.n_answers, "sizes": list(self.sizes),
            "tasks_per_worker": self.tasks_per_worker, "recommended": self.recommended(),
            "recommendation": json_values(self.recommendation.to_dict(orient="records")),
            "curve": json_values(self.curve.to_dict(orient="records")),
        }  # fmt: skip


def audit_sizes(n_workers: int, max_fraction: float = 0.3) -> tuple[int, ...]:
    """The default numbers of attackers: 1, 2, 4, … (doubling) and the largest, :math:`k_{\\max}` =
    ``round(max_fraction * n / (1 - max_fraction))`` added to ``n`` honest workers.

    Raises:
        InputError: ``max_fraction`` outside (0, 0.99], or so small that it allows no attacker.
    """
    if not 0 < max_fraction <= 0.99:
        raise InputError(f"max_fraction must be in (0, 0.99]; got {max_fraction}")
    most = ThreatModel(fraction=max_fraction).n_malicious_for(n_workers)
    if most < 1:
        raise InputError(
            f"max_fraction={max_fraction} allows no malicious worker among {n_workers} honest ones; raise it"
        )
    doubling = [2**i for i in range(most.bit_length()) if 2**i < most]
    return (*doubling, most)


def audit(
    answers: Answers | pd.DataFrame,
    bounds: Bounds,
    method: Aggregator,
    *,
    defenses: Sequence[Entry] | None = None,
    sizes: Sequence[int] | None = None,
    max_fraction: float = 0.3,
    tasks_per_worker: int | str | None = None,
    truth: pd.Series | None = None,
    top: int = 20,
    random_state: int = 0,
    jobs: int | None = 1,
) -> Audit:
    """Audit how far ``k`` malicious workers could move ``method``'s estimates of ``answers``, for each ``k``
    in ``sizes``, undefended and under each of ``defenses`` (see the module's description).

    Args:
        answers: The platform's answers (long format: ``task``, ``worker``, ``value``).
        bounds: Each task's legal range (attackers answer within it).
        method: The aggregator the platform publishes with.
        defenses: Defenses to audit around ``method`` (name and hyper-parameters; a removing defense that
            leaves out ``n_malicious`` assumes ``k``). Default :data:`DEFAULT_DEFENSES`, less those that
            cannot wrap ``method``; an empty list audits the method alone.
        sizes: Numbers of attackers to audit (default :func:`audit_sizes` of ``max_fraction``).
        max_fraction: The largest malicious share of all workers to guard against (for the default sizes).
        tasks_per_worker: Tasks each malicious worker answers: None (every task: the worst case), a number,
            or ``"mean"`` (as many as an average honest worker).
        truth: Ground truth per task, when known: errors are reported beside deviations.
        top: Most moved tasks to list per ``k``.
        random_state: Seed of the attacks (and of MWA's groups).
        jobs: Processes (None: every core).

    Raises:
        InputError: No bounds, a defense that cannot be built around ``method``, a ``k`` out of range.

    Examples:
        >>> from truthguard.aggregators import CRH
        >>> from truthguard.datasets import make_synthetic
        >>> from truthguard.experiments import audit
        >>> data = make_synthetic(n_tasks=60, n_workers=10, seed=0)
        >>> found = audit(data.answers, data.bounds, CRH(), sizes=[1, 3], defenses=[])
        >>> bool(found.curve["deviation"].is_monotonic_increasing)
        True
    """
    require_aggregator(method)
    if not isinstance(bounds, Bounds):
        raise InputError("the audit needs each task's legal range: give bounds, e.g. Bounds(0, 100)")
    honest = Answers.coerce(answers)
    bounds.check(honest)
    if top < 1:
        raise InputError(f"top must be a positive number of tasks; got {top}")
    chosen = _sizes(honest.n_workers, sizes, max_fraction)
    protections = _protections(method, defenses)
    ThreatModel(n_malicious=1, tasks_per_worker=tasks_per_worker)  # type: ignore[arg-type]  # checks the value
    setting = _Setting(
        honest, bounds, method, tuple(protections), tasks_per_worker, truth, top, random_state, secrets.token_hex(8)
    )
    jobs_list = [_Job(k, None) for k in chosen] + [_Job(k, p) for k in chosen for p in protections]
    workers = max(1, min(jobs or os.cpu_count() or 1, len(jobs_list)))
    attack_rows: list[dict[str, Any]] = []
    task_rows: list[pd.DataFrame] = []
    with progress(len(jobs_list), "audit", unit="attack") as bar:
        for rows, moved in parallel_map(functools.partial(_run_job, setting), jobs_list, workers):
            attack_rows += rows
            task_rows.append(moved)
            bar.update(1)
    order = {entry.label: i for i, entry in enumerate([Entry(UNDEFENDED), *protections])}
    table = pd.DataFrame(attack_rows)
    table = table.sort_values(["k", "protection", "mode"], key=lambda c: c.map(order) if c.name == "protection"
                              else c, kind="stable").reset_index(drop=True)  # fmt: skip
    curve = _curve(table)
    return Audit(
        method=method.name,
        n_tasks=honest.n_tasks,
        n_workers=honest.n_workers,
        n_answers=honest.n_answers,
        sizes=chosen,
        tasks_per_worker=tasks_per_worker,
        attacks=table,
        curve=curve,
        tasks=pd.concat(task_rows).sort_values(["k", "rank"], kind="stable").reset_index(drop=True),
        recommendation=_recommend(curve),
    )


@dataclass(frozen=True)
class _Setting:
    """Everything a job needs (pickled to worker processes); ``token`` tells a process when its cache of
    clean fits belongs to another audit."""

    honest: Answers
    bounds: Bounds
    method: Aggregator
    protections: tuple[Entry, ...]
    tasks_per_worker: int | str | None
    truth: pd.Series | None
    top: int
    seed: int
    token: str


@dataclass(frozen=True)
class _Job:
    """One attack: against the undefended method (``protection`` None; then measured under every defense too)
    or against one defense (adaptive)."""

    k: int
    protection: Entry | None


_CACHE: dict[str, Any] = {"token": None, "fits": {}}


def _run_job(setting: _Setting, job: _Job) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    if _CACHE["token"] != setting.token:
        _CACHE.update(token=setting.token, fits={})
    fits: dict[tuple[str, ...], Any] = _CACHE["fits"]
    threat = ThreatModel(n_malicious=job.k, tasks_per_worker=setting.tasks_per_worker)  # type: ignore[arg-type]
    with warnings.catch_warnings():  # attackers push fits to their limits by design: expected, not news
        warnings.simplefilter("ignore", TruthGuardWarning)
        if job.protection is not None:
            defense = _defense(setting, job.protection, job.k)
            report, poisoned = run_attack(setting.honest, setting.bounds, defense, _attack_for(defense, threat),
                                          setting.truth, random_state=setting.seed, cache=fits)  # fmt: skip
            row = _row(setting, job.k, job.protection.label, "adaptive", report, poisoned.malicious_workers, fits)
            return [row], pd.DataFrame()
        method = setting.method
        report, poisoned = run_attack(setting.honest, setting.bounds, method, _attack_for(method, threat),
                                      setting.truth, random_state=setting.seed, cache=fits)  # fmt: skip
        rows = [_row(setting, job.k, UNDEFENDED, "adaptive", report, poisoned.malicious_workers, fits)]
        for entry in setting.protections:
            transferred, _ = run_attack(setting.honest, setting.bounds, method, _attack_for(method, threat),
                                        setting.truth, random_state=setting.seed,
                                        evaluate_with=_defense(setting, entry, job.k), cache=fits)  # fmt: skip
            rows.append(_row(setting, job.k, entry.label, "transfer", transferred, poisoned.malicious_workers, fits))
        moved = _moved(setting, job.k, clean_fit(method, setting.honest, fits), poisoned_fit(method, poisoned, fits),
                       poisoned)  # fmt: skip
        return rows, moved


def _defense(setting: _Setting, entry: Entry, k: int) -> Aggregator:
    return make_defense(entry.name, setting.method.clone(), {"n_malicious": k}, **entry.options)


def _attack_for(aggregator: Aggregator, threat: ThreatModel) -> Attack:
    """The strongest attack the library has on ``aggregator``: gradients when it is differentiable."""
    return OptimizedAttack(threat) if aggregator.differentiable else BlackBoxAttack(threat)


def _row(
    setting: _Setting,
    k: int,
    protection: str,
    mode: str,
    report: AttackReport,
    attackers: pd.Index,
    fits: dict[tuple[str, ...], Any],
) -> dict[str, Any]:
    judged = report.evaluated_with
    row: dict[str, Any] = {
        "k": k,
        "fraction": k / (setting.honest.n_workers + k),
        "protection": protection,
        "mode": mode,
        "attack": report.attack,
        "stage": report.stage,
        "deviation": report.deviation,
        "weight_share": report.malicious_weight_share,
        "task_share": report.task_share_mean,
        "removed_attackers": None if report.removed is None else int(np.isin(report.removed, attackers).sum()),
        "clean_cost": _clean_cost(setting, protection, k, fits),
    }
    if report.before is not None and report.after is not None:
        row["mae_clean"], row["mae"] = report.before.mae, report.after.mae
    row["evaluated_with"] = judged
    return row


def _clean_cost(setting: _Setting, protection: str, k: int, fits: dict[tuple[str, ...], Any]) -> float:
    """:math:`C_p(k)`: mean absolute difference between the protection's clean estimates and the method's."""
    if protection == UNDEFENDED:
        return 0.0
    entry = next(e for e in setting.protections if e.label == protection)
    method = clean_fit(setting.method, setting.honest, fits)
    defended = clean_fit(_defense(setting, entry, k), setting.honest, fits)
    return deviation(defended.truths_, method.truths_)


def _moved(
    setting: _Setting, k: int, clean: Aggregator, attacked: Aggregator, poisoned: PoisonedAnswers
) -> pd.DataFrame:
    """The ``top`` tasks whose estimate the attack moved most, with their answer counts."""
    before = clean.truths_
    after = attacked.truths_.reindex(before.index)
    shift = after - before
    answers = poisoned.answers
    bad = np.bincount(answers.task[poisoned.malicious], minlength=answers.n_tasks)
    counts = pd.DataFrame(
        {"malicious_answers": bad, "honest_answers": answers.task_counts() - bad}, index=answers.tasks
    ).reindex(before.index)
    order = np.argsort(-np.abs(shift.to_numpy()), kind="stable")[: setting.top]
    frame = pd.DataFrame({
        "k": k, "rank": np.arange(1, len(order) + 1), "task": before.index[order],
        "clean": before.to_numpy()[order], "poisoned": after.to_numpy()[order], "shift": shift.to_numpy()[order],
        "malicious_answers": counts["malicious_answers"].to_numpy()[order],
        "honest_answers": counts["honest_answers"].to_numpy()[order],
    })  # fmt: skip
    return frame


def _curve(table: pd.DataFrame) -> pd.DataFrame:
    """Per ``k`` and protection, its strongest attack's row (largest deviation; the first on ties), with the
    bound :math:`D + C`."""
    strongest = table.loc[table.groupby(["k", "protection"], sort=False)["deviation"].idxmax()]
    curve = strongest.sort_index().reset_index(drop=True)
    curve["bound"] = curve["deviation"] + curve["clean_cost"]
    return curve


def _recommend(curve: pd.DataFrame) -> pd.DataFrame:
    """Per ``k``, the protection with the smallest bound (the undefended method on ties: no cost for nothing)."""
    rows = []
    for k, group in curve.groupby("k", sort=True):
        best = group.iloc[int(np.argmin(group["bound"].to_numpy()))]
        undefended = group[group["protection"] == UNDEFENDED]["deviation"].iloc[0]
        rows.append({"k": k, "fraction": best["fraction"], "protection": best["protection"],
                     "bound": best["bound"], "deviation": best["deviation"], "clean_cost": best["clean_cost"],
                     "undefended_deviation": undefended})  # fmt: skip
    return pd.DataFrame(rows)


def _sizes(n_workers: int, sizes: Sequence[int] | None, max_fraction: float) -> tuple[int, ...]:
    if sizes is None:
        return audit_sizes(n_workers, max_fraction)
    if not 0 < max_fraction <= 0.99:  # checked even when unused: a wrong value is a mistake either way
        raise InputError(f"max_fraction must be in (0, 0.99]; got {max_fraction}")
    chosen = sorted(set(sizes))
    if not chosen or any(not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1 for k in chosen):
        raise InputError(f"sizes must be positive numbers of malicious workers; got {list(sizes)}")
    for k in chosen:
        ThreatModel(n_malicious=int(k)).n_malicious_for(n_workers)  # too many for the honest workers: an error
    return tuple(int(k) for k in chosen)


def _protections(method: Aggregator, defenses: Sequence[Entry] | None) -> list[Entry]:
    """The defenses to audit, each built once around ``method`` so a bad name or parameter fails before any
    attack runs; the default ones that cannot wrap ``method`` are left out."""
    chosen = list(DEFAULT_DEFENSES if defenses is None else defenses)
    kept = []
    for entry in chosen:
        if not isinstance(entry, Entry):
            raise InputError(f"defenses must be Entry(name, options) values; got {type(entry).__name__}")
        if entry.name == UNDEFENDED:
            continue
        try:
            make_defense(entry.name, method.clone(), {"n_malicious": 1}, **entry.options)
        except InputError as error:
            if defenses is None:
                continue
            raise InputError(f"defense {entry.label}: {error}") from None
        kept.append(entry)
    labels = [e.label for e in kept]
    if len(set(labels)) < len(labels):
        raise InputError(f"defense {next(x for x in labels if labels.count(x) > 1)} is listed twice; list it once")
    return kept
