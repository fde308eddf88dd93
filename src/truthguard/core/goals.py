r"""What an adversary wants of the estimates, written once for every array backend.

A goal scores a vector of per-task estimates :math:`\hat x` (larger is better for the adversary):

* ``deviation`` (Fang et al., WWW 2021): :math:`\sum_m |\hat x_m - r_m|`, the total movement away from the
  reference estimates :math:`r` (the estimates without the malicious workers);
* ``targeted``: :math:`-\sum_{m \in T} |\hat x_m - t_m|`, closeness to the targets :math:`t_m` of the
  target tasks :math:`T` (tasks without a target, NaN, do not count).

The attacks maximise it (exactly with NumPy, by gradient with JAX: the same :meth:`Goal.score`), and a defense
that knows the attacker's goal (MIE) uses it to find the workers whose removal moves the estimates the most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from truthguard.core.backend import Array

__all__ = ["GOALS", "Goal", "GoalKind"]

GoalKind = Literal["deviation", "targeted"]
GOALS: tuple[GoalKind, ...] = ("deviation", "targeted")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Goal:
    """An adversary's objective over per-task estimates.

    Attributes:
        kind: ``"deviation"`` or ``"targeted"``.
        reference: The estimate per task that deviation is measured from.
        targets: The target per task, NaN where the task has none (only ``targeted`` reads them).
    """

    kind: GoalKind
    reference: Array
    targets: Array

    def score(self, xp: Any, estimate: Array) -> Array:
        """The objective for ``estimate`` (one per task), with the array namespace ``xp`` (NumPy or JAX)."""
        if self.kind == "targeted":
            aimed = ~xp.isnan(self.targets)
            # Untargeted tasks compare the estimate with itself: exactly 0, and no NaN in any derivative.
            return -xp.sum(xp.abs(estimate - xp.where(aimed, self.targets, estimate)))
        return xp.sum(xp.abs(estimate - self.reference))

    def wanted(self) -> npt.NDArray[np.bool_]:
        """Per task, whether the goal gains by moving its estimate: every task for deviation, the target tasks
        for a targeted goal (elsewhere an attacker gains most by agreeing with the estimate)."""
        if self.kind == "targeted":
            return ~np.isnan(np.asarray(self.targets, dtype=np.float64))
        return np.ones(np.shape(self.reference), dtype=bool)

    def upward(self, low: FloatArray, high: FloatArray) -> npt.NDArray[np.bool_]:
        """Per task (bounds ``low``, ``high``), whether the goal gains by raising the estimate: towards the
        farther bound for deviation (the upper one when the reference is below the middle), towards the target
        for a targeted goal's target tasks."""
        reference = np.asarray(self.reference)
        up = reference < 0.5 * (low + high)
        if self.kind == "targeted":
            targets = np.asarray(self.targets)
            aimed = ~np.isnan(targets)
            up[aimed] = targets[aimed] > reference[aimed]
        return up

    def arrays(self) -> dict[str, Array]:
        """The goal's arrays by name (what a compiled function takes as arguments; ``kind`` stays static)."""
        return {"reference": self.reference, "targets": self.targets}

    def with_arrays(self, arrays: dict[str, Array]) -> Goal:
        """The same kind of goal on other arrays (e.g. JAX tracers inside a compiled function)."""
        return Goal(self.kind, arrays["reference"], arrays["targets"])
