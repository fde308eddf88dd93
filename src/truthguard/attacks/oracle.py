"""The optimised attack's gradient oracle: its objective, differentiated through the aggregator.

The differentiation itself is the aggregators' (:class:`~truthguard.aggregators.differentiable.DifferentiableFit`);
here is only what the attack differentiates: the goal's score (:class:`~truthguard.core.goals.Goal`), or the
directional push that ranks the farming stage's slots, of the attacker's view with the known slots as variables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from truthguard.aggregators.base import Aggregator
from truthguard.aggregators.differentiable import DifferentiableFit
from truthguard.attacks.problem import AttackProblem
from truthguard.core.backend import Array
from truthguard.core.goals import Goal

__all__ = ["GradientOracle"]

FloatArray = npt.NDArray[np.float64]


def _deviation(xp: Any, estimate: Array, arrays: dict[str, Array]) -> Array:
    return _objective("deviation", xp, estimate, arrays)


def _targeted(xp: Any, estimate: Array, arrays: dict[str, Array]) -> Array:
    return _objective("targeted", xp, estimate, arrays)


def _objective(kind: str, xp: Any, estimate: Array, arrays: dict[str, Array]) -> Array:
    goal = Goal(kind, arrays["reference"], arrays["targets"])  # type: ignore[arg-type]
    # One compiled function serves both the goal and the push (compiling costs more than computing both).
    return xp.where(arrays["push"], xp.sum(arrays["direction"] * estimate), goal.score(xp, estimate))


#: One module-level function per goal: the compile cache is keyed by the objective function.
_OBJECTIVES = {"deviation": _deviation, "targeted": _targeted}


class GradientOracle:
    """Value and gradient of the attacker's objective with respect to the known malicious values.

    The objective is the problem's goal (:meth:`AttackProblem.score`) of the estimate after ``unroll``
    iterations of the aggregator warm-started at ``start``, differentiated there as a fixed point;
    :meth:`__call__` also returns that estimate, the next call's warm start.
    """

    def __init__(self, problem: AttackProblem, aggregator: Aggregator, unroll: int) -> None:
        self.problem = problem
        self._fit = DifferentiableFit(
            aggregator,
            problem.view,
            problem.view_positions,
            _OBJECTIVES[problem.threat.goal],
            unroll,
            purpose=f"the optimised attack against {type(aggregator).__name__}",
        )
        self._arrays: dict[str, Any] = problem.goal.arrays() | {"direction": self._direction()}

    def __call__(self, malicious: FloatArray, start: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        """``(objective, gradient, estimate)`` at the known slots' values ``malicious``, warm-started at ``start``."""
        return self._fit(malicious, start, self._arrays | {"push": False})

    def push(self, malicious: FloatArray, start: FloatArray) -> FloatArray:
        r"""Gradient of :math:`\sum_m d_m \hat x_m`, :math:`d_m = \pm 1` towards each pushed task's far bound.

        At the estimate-copying start the objective itself has no useful gradient (every estimate sits at its
        reference, where :math:`|\cdot|` has a kink); this directional derivative says how much each malicious
        value would move its task's estimate the way the attack wants it: the farming stage's ranking.
        """
        return self._fit(malicious, start, self._arrays | {"push": True})[1]

    def _direction(self) -> FloatArray:
        """Per view task, +1 or -1 towards the far bound of the tasks the goal wants moved, 0 elsewhere."""
        problem = self.problem
        known = problem.known_slots & problem.pushed()
        direction = np.zeros(problem.view.n_tasks)
        sign = np.sign(problem.far_bound() - problem.reference_per_slot())
        direction[problem.slot_view_task[known]] = sign[known]
        return direction
