"""What every defense shares: it wraps a base method, whose checks, units and rescaling are its own."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from truthguard.aggregators.base import Aggregator, IterativeAggregator, Step, _Fit
from truthguard.core.answers import Answers
from truthguard.core.backend import NUMPY, Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.errors import InputError

__all__ = ["Defense", "FixedPointDefense", "Prepared", "fit_kept"]

FloatArray = npt.NDArray[np.float64]


class Defense(Aggregator):
    """An aggregator around a base method (its ``base`` hyper-parameter)."""

    base: Aggregator

    def _check_params(self) -> None:
        self.base._validate_params()

    def _weight_units(self) -> int:
        return self.base._weight_units()  # weights_ are the base method's

    def _removals(self, answers: Answers) -> int:
        """``n_malicious``, the workers a removing defense takes out, checked against the workers there are."""
        k = int(self.get_params(deep=False)["n_malicious"])
        if k >= answers.n_workers:
            raise InputError(
                f"{type(self).__name__} n_malicious={k} would remove every one of the {answers.n_workers} workers; "
                "give fewer (an upper bound on the malicious workers below the number of workers)"
            )
        return k

    def _in_units(self, exponent: int) -> Self:
        scaled = self.base._in_units(exponent)
        return self if scaled is self.base else self.clone().set_params(base=scaled)


@dataclass(frozen=True)
class Prepared:
    """A fixed-point defense's per-fit constants: its base method's and its own."""

    base: Any
    own: Any


class FixedPointDefense(Defense, IterativeAggregator):
    """A defense that keeps its base method's fixed point and changes only the estimate read from it.

    The base method iterates to convergence by its own test (``base__tol``, ``base__max_iter``); the defense's
    :meth:`_combine` turns the converged truths (working scale) into the estimates. Because the iteration is
    the base's and the estimate a function of its fixed point, the JAX path differentiates the defense as it
    does the base method: the optimised attack targets it with no extra code. ``weights_`` are the base's.
    """

    base: IterativeAggregator

    @property
    def tol(self) -> float:  # type: ignore[override]
        return float(self.base.tol)

    @property
    def max_iter(self) -> int:  # type: ignore[override]
        return int(self.base.max_iter)

    @property
    def _warm_starts(self) -> bool:  # type: ignore[override]
        return bool(self.base._warm_starts)

    def _fit(self, answers: Answers) -> _Fit:
        claims = Claims.from_answers(answers)
        return self._solve(NUMPY, claims, self._prepare(NUMPY, claims))[0]

    def _solve(
        self, be: ArrayBackend, claims: Claims, prep: Prepared, start: Array | None = None
    ) -> tuple[_Fit, Array]:
        # The base converges by its own test, on its own estimate: a test on the defense's estimate (a median
        # can stay put while the weights under it still move) would stop early, far from the fixed point when
        # warm-started from a poisoned estimate.
        fit, truths = self.base._solve(be, claims, prep.base, start)
        estimate = self._output(be, claims, prep, truths)
        return _Fit(np.asarray(estimate), fit.weights, fit.n_iter, fit.converged, fit.history), truths

    def _prepare(self, be: ArrayBackend, claims: Claims) -> Prepared:
        return Prepared(self.base._prepare(be, claims), self._prepare_own(claims))

    def _prepare_own(self, claims: Claims) -> Any:
        """The defense's own constants; they may depend on the answers' structure, never on their values."""
        return None

    def _initial_truths(self, be: ArrayBackend, claims: Claims, prep: Prepared) -> Array:
        return self.base._initial_truths(be, claims, prep.base)

    def _weight_step(self, be: ArrayBackend, claims: Claims, prep: Prepared, truths: Array) -> Step:
        return self.base._weight_step(be, claims, prep.base, truths)

    def _truth_step(self, be: ArrayBackend, claims: Claims, prep: Prepared, weights: Array) -> Array:
        return self.base._truth_step(be, claims, prep.base, weights)

    def _to_working(self, be: ArrayBackend, claims: Claims, prep: Prepared, estimate: Array) -> Array:
        return self.base._to_working(be, claims, prep.base, estimate)

    def _start_from(self, answers: Answers, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return self.base._start_from(answers, weights)  # the base iterates: it starts from its own estimates

    def _output(self, be: ArrayBackend, claims: Claims, prep: Prepared, truths: Array) -> Array:
        # The weights the base method gives at these truths: at its fixed point, the weights it ends with.
        weights = self.base._weight_step(be, claims, prep.base, truths).weights
        return self._combine(be, claims, prep.own, weights[claims.worker])

    @abstractmethod
    def _combine(self, be: ArrayBackend, claims: Claims, own: Any, weights: Array) -> Array:
        """The estimate per task from the answers and the base method's weight of each answer."""


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
