"""The threat model: how many malicious workers, what they answer, what they know and what they want."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import pandas as pd

from truthguard.errors import InputError

__all__ = ["GOALS", "KNOWLEDGE", "ThreatModel", "round_half_up"]

Knowledge = Literal["full", "partial"]
Goal = Literal["deviation", "targeted"]
KNOWLEDGE: tuple[Knowledge, ...] = ("full", "partial")
GOALS: tuple[Goal, ...] = ("deviation", "targeted")


def round_half_up(value: Fraction | float) -> int:
    """The nearest integer, halves rounded up (Python's ``round`` rounds them to even)."""
    return int(Fraction(value) + Fraction(1, 2)) if value >= 0 else -round_half_up(-value)


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
        fraction: Malicious share of all workers, in [0, 1); ignored when ``n_malicious`` is given.
        n_malicious: Number of malicious workers (overrides ``fraction``).
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
    goal: Goal = "deviation"
    targets: pd.Series | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.n_malicious is not None:
            if not isinstance(self.n_malicious, int) or isinstance(self.n_malicious, bool) or self.n_malicious < 0:
                raise InputError(f"n_malicious must be an integer >= 0; got {self.n_malicious!r}")
        elif not (isinstance(self.fraction, int | float) and not isinstance(self.fraction, bool)):
            raise InputError(f"fraction must be a number in [0, 1); got {self.fraction!r}")
        elif not 0 <= self.fraction < 1:
            raise InputError(f"fraction must be in [0, 1) (a share of all workers); got {self.fraction!r}")
        per_worker = self.tasks_per_worker
        if per_worker not in (None, "mean") and (
            not isinstance(per_worker, int) or isinstance(per_worker, bool) or per_worker < 1
        ):
            raise InputError(f"tasks_per_worker must be a positive integer, 'mean' or None; got {per_worker!r}")
        if self.knowledge not in KNOWLEDGE:
            raise InputError(f"unknown knowledge {self.knowledge!r}; choose one of {', '.join(KNOWLEDGE)}")
        if isinstance(self.known_fraction, bool) or not (
            isinstance(self.known_fraction, int | float) and 0 < self.known_fraction <= 1
        ):
            raise InputError(f"known_fraction must be in (0, 1]; got {self.known_fraction!r}")
        if self.goal not in GOALS:
            raise InputError(f"unknown goal {self.goal!r}; choose one of {', '.join(GOALS)}")
        if self.goal == "targeted" and (self.targets is None or len(self.targets) == 0):
            raise InputError("the targeted goal needs targets: a Series (or CSV with columns task, target) of values")
        if self.goal == "deviation" and self.targets is not None:
            raise InputError("targets are only used with goal='targeted'; set the goal or drop the targets")

    def n_malicious_for(self, n_honest: int) -> int:
        """The number of malicious workers :math:`k` added to ``n_honest`` honest workers."""
        if self.n_malicious is not None:
            return self.n_malicious
        # Exact arithmetic on the decimal the user wrote: 0.2 * 86 / 0.8 is 21.5 (rounds up to 22), not the
        # 21.499999999999996 of floating point.
        fraction = Fraction(str(self.fraction))
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
