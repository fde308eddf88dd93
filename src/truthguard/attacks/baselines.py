"""The two baseline attacks of Fang et al.'s comparison: random values and maximum values."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from truthguard.aggregators.base import Aggregator
from truthguard.attacks.base import Attack
from truthguard.attacks.problem import AttackProblem
from truthguard.attacks.threat import ThreatModel
from truthguard.core.params import Constraint, Options

__all__ = ["MaximumAttack", "RandomAttack"]

FloatArray = npt.NDArray[np.float64]
MODES = ("max", "far")


class RandomAttack(Attack):
    r"""Malicious workers answer uniformly at random within each task's bounds.

    Each malicious value is :math:`\tilde x_j^m \sim U[\text{low}_m, \text{high}_m]`, independently (the
    "random attack" baseline of Fang et al., WWW 2021, as reconstructed). It needs no knowledge at all.

    Examples:
        >>> from truthguard.attacks import RandomAttack, ThreatModel
        >>> from truthguard.datasets import make_synthetic
        >>> data = make_synthetic(n_tasks=50, n_workers=10, seed=0)
        >>> poisoned = RandomAttack(ThreatModel(fraction=0.2)).poison(data.answers, data.bounds, random_state=0)
        >>> poisoned.n_malicious, int(poisoned.malicious.sum())
        (3, 150)
    """

    name = "random"
    summary = "uniform random values within each task's bounds"

    def craft(
        self, problem: AttackProblem, aggregator: Aggregator | Any | None, rng: np.random.Generator
    ) -> FloatArray:
        return rng.uniform(problem.low, problem.high)


class MaximumAttack(Attack):
    r"""Malicious workers answer an extreme value on every task.

    ``mode="max"``: the maximum allowed value of every task (the seed summary's "maximum attack").
    ``mode="far"``: the bound farthest from the current estimate of the task (the aggregator's output on the
    honest answers the attacker knows, or their median when no aggregator is given), which moves every
    estimate, not only those below the middle of the range. Targeted goals push towards each target instead.

    Args:
        threat: The threat model.
        mode: ``"max"`` or ``"far"``.

    Examples:
        >>> from truthguard.attacks import MaximumAttack, ThreatModel
        >>> from truthguard.datasets import make_synthetic
        >>> data = make_synthetic(n_tasks=50, n_workers=10, seed=0)
        >>> poisoned = MaximumAttack(ThreatModel(n_malicious=1)).poison(data.answers, data.bounds, random_state=0)
        >>> sorted(set(poisoned.to_frame().query("malicious")["value"]))
        [100.0]
    """

    name = "maximum"
    summary = "the largest allowed value (or the bound farthest from the estimate) on every task"
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        **Attack._parameter_constraints,
        "mode": [Options(MODES)],
    }

    def __init__(self, threat: ThreatModel | None = None, mode: str = "max") -> None:
        super().__init__(threat)
        self.mode = mode

    def craft(
        self, problem: AttackProblem, aggregator: Aggregator | Any | None, rng: np.random.Generator
    ) -> FloatArray:
        return problem.high.copy() if self.mode == "max" else problem.far_bound()
