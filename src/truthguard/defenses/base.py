"""What every defense shares: it wraps a base method, whose checks, units and rescaling are its own."""

from __future__ import annotations

from typing import Self

import numpy as np
import numpy.typing as npt

from truthguard.aggregators.base import Aggregator, IterativeAggregator, _Fit
from truthguard.core.answers import Answers
from truthguard.core.backend import NUMPY
from truthguard.core.claims import Claims

__all__ = ["Defense", "fit_kept"]

FloatArray = npt.NDArray[np.float64]


class Defense(Aggregator):
    """An aggregator around a base method (its ``base`` hyper-parameter)."""

    base: Aggregator

    def _check_params(self) -> None:
        self.base._validate_params()

    def _weight_units(self) -> int:
        return self.base._weight_units()  # weights_ are the base method's

    def _in_units(self, exponent: int) -> Self:
        scaled = self.base._in_units(exponent)
        return self if scaled is self.base else self.clone().set_params(base=scaled)


def fit_kept(base: Aggregator, answers: Answers, keep: npt.NDArray[np.bool_], start: FloatArray | None = None) -> _Fit:
    """``base`` fitted on the answers of the workers ``keep`` (a mask over ``answers``' workers), warm-started
    at ``start`` (estimates per task of ``answers``) when given and the method iterates.

    The result covers every task and worker of ``answers``: a task left without answers keeps ``start``
    (0 without it), a removed worker gets weight 0.
    """
    kept = keep[answers.worker]
    subset = answers.select(kept)
    present = np.bincount(answers.task[kept], minlength=answers.n_tasks) > 0
    if isinstance(base, IterativeAggregator):
        claims = Claims.from_answers(subset)
        warm = None if start is None else start[present]
        fit, _ = base._solve(NUMPY, claims, base._prepare(NUMPY, claims), warm)
    else:
        fit = base._fit(subset)
    truths = np.array(start if start is not None else np.zeros(answers.n_tasks), dtype=np.float64)
    truths[present] = fit.truths
    weights = np.zeros(answers.n_workers)
    weights[keep] = fit.weights
    return _Fit(truths, weights, fit.n_iter, fit.converged, fit.history)
