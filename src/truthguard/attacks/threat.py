"""The threat model: how many malicious workers, what they answer, what they know and what they want."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import numpy as np
import pandas as pd

from truthguard.core.goals import GOALS, GoalKind
from truthguard.core.labels import show
from truthguard.core.params import NONE, Constraint, InstanceOf, Interval, Options, check_params
from truthguard.errors import InputError

__all__ = ["GOALS", "KNOWLEDGE", "MAX_FRACTION", "ThreatModel", "round_half_up"]

Knowledge = Literal["full", "partial"]
KNOWLEDGE: tuple[Knowledge, ...] = ("full", "partial")


def round_half_up(value: Fraction | float) -> int:
    """The nearest integer, halves rounded up (Python's ``round`` rounds them to even)."""
    return int(Fraction(value) + Fraction(1, 2)) if value >= 0 else -round_half_up(-value)


#: The largest malicious share of all workers (99 malicious workers per honest one): beyond it nothing is left
#: to measure, and the sizes explode (a fraction f adds f / (1 - f) malicious workers per honest one).
MAX_FRACTION = 0.99

_CONSTRAINTS: dict[str, list[Constraint]] = {
    "fraction": [Interval("real", 0, MAX_FRACTION)],
    "n_malicious": [Interval("integer", 0, None), NONE],
    "tasks_per_worker": [Interval("integer", 1, None), Options(("mean",)), NONE],
    "knowledge": [Options(KNOWLEDGE)],
    "known_fraction": [Interval("real", 0, 1, "right")],
    "goal": [Options(GOALS)],
    "targets": [InstanceOf(pd.Series, "a pandas Series of target values indexed by task"), NONE],
}


@dataclass(frozen=True)
class ThreatModel:
    r"""What the attacker controls, knows and wants (Fang et al., WWW 2021, as reconstructed in §2.3 and §4).

    **Who.** The attacker adds :math:`k` malicious workers to the :math:`N` honest ones: ``n_malicious``
    directly, or a ``fraction`` :math:`f` of *all* workers, :math:`k = \mathrm{round}(f N / (1 - f))`.

    **What they answer.** Every task (``tasks_per_worker=None``), or each malicious worker answers
    ``tasks_per_worker`` distinct tasks drawn uniformly with the attack's seed; ``"mean"`` means as many as an
    average honest worker. The share of malicious answers *per task*, not :math:`f`, decides what a per-task
    robust rule (median, trimmed mean) can survive; every run reports it. Values must lie within each task's
    bounds.

    **What they know.** ``"full"``: every honest answer and the aggregator with its hyper-parameters.
    ``"partial"``: the answers of a seeded random ``known_fraction`` :math:`\rho` of the honest workers (at
    least one); the attack is computed on that subset and evaluated on the full data. Malicious answers on
    tasks no known worker answered take the task's upper bound (the maximum attack's value) in the attacks that
    use knowledge; the random attack draws them like the others.

    **What they want.** ``"deviation"`` (untargeted; the attacker has no ground truth): maximise
    :math:`\sum_m |\hat x_m^{\text{after}} - \hat x_m^{\text{before}}|` over the tasks it knows, where
    "before" is the aggregator's output on the honest answers it knows. ``"targeted"``: push the tasks of
    ``targets`` (a Series task → value) towards their values, i.e. maximise
    :math:`-\sum_{m \in T} |\hat x_m^{\text{after}} - \text{target}_m|`.

    Args:
        fraction: Malicious share of all workers, in [0, 0.99]; ignored when ``n_malicious`` is given.
        n_malicious: Number of malicious workers (overrides ``fraction``); at most 99 per honest worker.
        tasks_per_worker: None (all tasks), a positive integer, or ``"mean"``.
        knowledge: ``"full"`` or ``"partial"``.
        known_fraction: :math:`\rho`, the share of honest workers a partial-knowledge attacker knows, in (0, 1].
        goal: ``"deviation"`` or ``"targeted"``.
        targets: Target value per task (Series indexed by task), for ``goal="targeted"``.

    Examples:
        >>> ThreatModel(fraction=0.2).n_malicious_for(n_honest=40)
        10
        >>> ThreatModel(n_malicious=3).n_malicious_for(n_honest=40)
        3
    """

    fraction: float = 0.1
    n_malicious: int | None = None
    tasks_per_worker: int | Literal["mean"] | None = None
    knowledge: Knowledge = "full"
    known_fraction: float = 0.5
    goal: GoalKind = "deviation"
    targets: pd.Series | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_params(
            "ThreatModel",
            {name: getattr(self, name) for name in _CONSTRAINTS},
            _CONSTRAINTS if self.n_malicious is None else {k: v for k, v in _CONSTRAINTS.items() if k != "fraction"},
        )
        if self.goal == "targeted" and (self.targets is None or len(self.targets) == 0):
            raise InputError("the targeted goal needs targets: a Series (or CSV with columns task, target) of values")
        if self.goal == "deviation" and self.targets is not None:
            raise InputError("targets are only used with goal='targeted'; set the goal or drop the targets")
        if self.targets is not None:
            object.__setattr__(self, "targets", _checked_targets(self.targets))

    def n_malicious_for(self, n_honest: int) -> int:
        """The number of malicious workers :math:`k` added to ``n_honest`` honest workers.

        Raises:
            InputError: ``n_malicious`` is more than 99 times ``n_honest`` (see :data:`MAX_FRACTION`).
        """
        if self.n_malicious is not None:
            most = round_half_up(Fraction(str(MAX_FRACTION)) * n_honest / (1 - Fraction(str(MAX_FRACTION))))
            if int(self.n_malicious) > most:
                raise InputError(
                    f"n_malicious={self.n_malicious} exceeds {MAX_FRACTION:.0%} of all workers with {n_honest} honest "
                    f"ones; give at most {most}"
                )
            return int(self.n_malicious)
        # Exact arithmetic on the decimal the user wrote: 0.2 * 86 / 0.8 is 21.5 (rounds up to 22), not the
        # 21.499999999999996 of floating point.
        fraction = Fraction(str(float(self.fraction)))
        return round_half_up(fraction * n_honest / (1 - fraction))

    def describe(self) -> dict[str, object]:
        """The threat model as plain values (for reports and JSON)."""
        return {
            "fraction": self.fraction if self.n_malicious is None else None,
            "n_malicious": self.n_malicious,
            "tasks_per_worker": self.tasks_per_worker,
            "knowledge": self.knowledge,
            "known_fraction": self.known_fraction if self.knowledge == "partial" else None,
            "goal": self.goal,
            "n_targets": None if self.targets is None else len(self.targets),
        }


def _checked_targets(targets: pd.Series) -> pd.Series:
    """``targets`` as finite float values with one per task, or an :class:`InputError` saying what is wrong."""
    values = pd.to_numeric(targets, errors="coerce")
    finite = np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))
    if not finite.all():
        position = int(np.flatnonzero(~finite)[0])
        raise InputError(
            f"targets must be finite numbers; task {show(targets.index[position])} has {show(targets.iloc[position])}"
        )
    if targets.index.has_duplicates:
        raise InputError(
            f"targets give task {show(targets.index[targets.index.duplicated()][0])} more than once; keep one per task"
        )
    return pd.Series(values.to_numpy(dtype=np.float64), index=targets.index, name=targets.name)
