"""The estimator protocol every aggregator follows, and the driver of iterative truth discovery.

Conventions are scikit-learn's and crowd-kit's: hyper-parameters are ``__init__`` arguments stored unchanged
(checked in ``fit``), ``fit`` returns ``self``, fitted state lives in trailing-underscore attributes:

* ``truths_``: estimated value per task (Series indexed by ``task``, named ``value``);
* ``weights_``: weight per worker (Series indexed by ``worker``, named ``weight``);
* ``n_iter_``, ``converged_`` and ``objective_history_`` (one entry per iteration).

The math lives in backend-generic methods (``_prepare``, ``_initial_truths``, ``_weight_step``,
``_truth_step``, ``_output``) so the same formulas serve aggregation with NumPy and differentiation.
"""

from __future__ import annotations

import math
import os
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.aggregators.intervals import predict_interval
from truthguard.aggregators.partitions import IN_PROCESS, Parts, iterate
from truthguard.aggregators.report import workers_report
from truthguard.aggregators.state import load_state, save_state
from truthguard.core.answers import Answers
from truthguard.core.backend import NUMPY, Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.core.diagnostics import dominated_tasks
from truthguard.core.gold import GoldScreen, align_gold, screen_factor, screen_workers
from truthguard.core.labels import align_to_labels, show
from truthguard.core.params import Configurable, Constraint, Interval, Options
from truthguard.core.sampling import RandomState
from truthguard.errors import DominatedEstimateWarning, GoldScreenWarning, InputError, NumericalError

__all__ = ["Aggregator", "IterativeAggregator", "Step", "require_aggregator", "resolve_worker_weights"]

INITIALISATIONS = ("median", "mean")


@dataclass(frozen=True)
class _Fit:
    truths: np.ndarray[Any, Any]
    weights: np.ndarray[Any, Any]
    n_iter: int
    converged: bool
    history: list[float]


@dataclass(frozen=True)
class Step:
    """One weight update: the new worker weights and the objective at (previous truths, new weights)."""

    weights: Array
    objective: Array


class Aggregator(Configurable, ABC):
    """Base class of every aggregator: turn answers into one estimated value per task.

    Subclasses declare their hyper-parameters' accepted values in ``_parameter_constraints`` (see
    :mod:`truthguard.core.params`); ``fit`` checks them before touching the data.
    """

    #: Name in the method registry and on the command line.
    name: ClassVar[str]
    #: One-line description for ``truthguard methods``.
    summary: ClassVar[str]
    #: Whether JAX can differentiate the estimate with respect to the answers
    #: (:mod:`truthguard.aggregators.differentiable`): true of methods written on the array backend
    #: (``_estimate``, or ``_prepare`` and ``_iterate``); a class with other code in its fit says False, and the
    #: optimised attack then points to the black-box attack.
    differentiable: ClassVar[bool] = True

    truths_: pd.Series
    weights_: pd.Series
    n_iter_: int
    converged_: bool
    objective_history_: list[float]
    screened_: pd.DataFrame | None
    gold_record_: GoldScreen | None
    _fitted_answers: Answers | None = None

    # --------------------------------------------------------------- estimator protocol

    def fit(
        self,
        data: Answers | pd.DataFrame,
        gold: pd.Series | pd.DataFrame | None = None,
        gold_screen: bool | float = False,
    ) -> Self:
        r"""Estimate every task's value from ``data`` (a long DataFrame or :class:`~truthguard.Answers`).

        Answers of extreme magnitude (largest beyond :math:`2^{\pm 256}`, about :math:`10^{\pm 77}`) are
        first divided by a power of two, which is exact, and the results multiplied back: every method is
        equivariant under scaling, so the estimates are those of the unscaled arithmetic, but squares can
        neither overflow nor vanish. ``objective_history_`` is then that of the rescaled answers, and weights
        with units (LFC-N's and CATD's precisions, 1 / units²) saturate at 0 or the largest double where double
        precision cannot hold them.

        Args:
            data: The answers.
            gold: Known values of some tasks (a Series task → value, or a table with columns ``task``,
                ``truth``; see :mod:`truthguard.core.gold`). A gold task's estimate is its known value;
                iterative methods measure the workers' distances on gold tasks from it; each worker's mean
                error on the gold tasks it answered is screened, and ``screened_`` lists the workers flagged
                (``gold_record_`` keeps every worker's record).
            gold_screen: Leave out the answers of the flagged workers (their weight is then 0): ``True``
                flags a mean gold error above 3 times the median worker's, a number is that factor. False
                (the default) only reports them.

        Warns:
            DominatedEstimateWarning: Some tasks' estimates are dominated by one far-off answer (see
                :mod:`truthguard.core.diagnostics`).
            GoldScreenWarning: Screening left some tasks without answers; their estimates use every answer.

        Raises:
            NumericalError: An estimate or weight came out NaN or infinite (a bug: please report it).
        """
        self._validate_params()
        return self._fit_all(Answers.coerce(data), gold, gold_screen, None)

    def partial_fit(
        self,
        data: Answers | pd.DataFrame,
        gold: pd.Series | pd.DataFrame | None = None,
        gold_screen: bool | float = False,
    ) -> Self:
        """Add ``data`` to the answers of the last fit (new tasks, new workers, more answers on known tasks) and
        fit them all, starting from the last fit's estimates: an iterative method then needs fewer iterations
        (``n_iter_`` counts this run's) and ends at the same fixed point, within its tolerance, as a fit on all
        the answers; other methods simply fit them all. Not fitted yet: a fit. ``gold`` and ``gold_screen``
        apply to all the answers, as in :meth:`fit`.

        Raises:
            InputError: A (task, worker) pair of ``data`` was already answered; the last fit ran on a Dask
                cluster (its answers are not in this process).
        """
        self._validate_params()
        new = Answers.coerce(data)
        if getattr(self, "truths_", None) is None:
            return self._fit_all(new, gold, gold_screen, None)
        answers = self._answers_of_fit("partial_fit").extended(new)
        start = None
        if isinstance(self, IterativeAggregator) and self._warm_starts:
            # Every task starts at its truth step under the last fit's weights (a new worker: the median
            # weight): known tasks see their new answers, new tasks start near where they will end.
            weights = align_to_labels(self.weights_, answers.workers)
            weights[np.isnan(weights)] = np.median(self.weights_.to_numpy())
            start = self._start_from(answers, weights)
        return self._fit_all(answers, gold, gold_screen, start)

    def _fit_all(
        self, answers: Answers, gold: pd.Series | pd.DataFrame | None, gold_screen: bool | float, start: Any
    ) -> Self:
        screen = None
        if gold is None:
            if gold_screen is not False:
                raise InputError("gold_screen needs gold tasks: pass gold= (a Series task -> known value)")
            fit = self._fit_checked(answers, start)
        else:
            answers = answers.with_gold(align_gold(gold, answers))
            known = answers.gold
            assert known is not None
            screen = screen_workers(answers, known, screen_factor(gold_screen))
            removing = gold_screen is not False and bool(screen.flagged.any())
            fit = self._fit_screened(answers, screen.flagged, start) if removing else self._fit_checked(answers, start)
            fit = replace(fit, truths=np.where(np.isnan(known), fit.truths, known))
        self._set_fitted(fit, answers.tasks, answers.workers)
        if screen is not None:
            self.screened_ = screen.reasons(answers.workers).assign(removed=gold_screen is not False)
            self.gold_record_ = screen
        self._fitted_answers = answers
        return self

    def predict_interval(
        self, level: float = 0.9, n_bootstrap: int = 200, random_state: RandomState = None, calibrate: bool = False
    ) -> pd.DataFrame:
        """An interval around each task's estimate of the last fit: a DataFrame indexed by task with columns
        ``low`` and ``high``, meant to cover the truth with probability ``level``. GTM gives its
        posterior; every other method a seeded bootstrap of the workers' residuals (``n_bootstrap``
        replicates of its estimate at the fitted weights); gold tasks, their known value. With
        ``calibrate=True`` (a fit with gold tasks) every half-width is scaled so that the gold tasks are
        covered at ``level`` (:func:`~truthguard.aggregators.intervals.gold_calibration`). See
        :mod:`truthguard.aggregators.intervals`.

        Raises:
            NotFittedError: Not fitted yet.
            InputError: A level outside (0, 1), fewer than 2 replicates, a bad seed, or a Dask fit.
        """
        answers = self._answers_of_fit("predict_interval")
        return predict_interval(self, answers, level, n_bootstrap, random_state, calibrate)

    def _replicate(self, answers: Answers, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The method's estimate of ``answers`` at fixed worker ``weights`` (a bootstrap replicate): the
        one-shot estimate, or, for classes with only a fit, a fit."""
        try:
            return np.asarray(self._estimate(NUMPY, Claims.from_answers(answers), weights))
        except NotImplementedError:
            return self.clone()._fit(answers).truths

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write the last fit's state (its answers, estimates and weights) to ``path``, to continue it later
        with :meth:`load_state` and :meth:`partial_fit` (format: :mod:`truthguard.aggregators.state`)."""
        save_state(self, path)

    def load_state(self, path: str | os.PathLike[str]) -> Self:
        """Restore the fit saved at ``path`` by this estimator (same class and hyper-parameters), as if it had
        just been fitted: :meth:`partial_fit` then continues it."""
        self._validate_params()
        load_state(self, path)
        return self

    def _restore(self, answers: Answers, truths: pd.Series, weights: pd.Series, n_iter: int) -> None:
        fit = _Fit(truths.to_numpy(dtype=np.float64), weights.to_numpy(dtype=np.float64), n_iter, True, [])
        self._set_fitted(fit, answers.tasks, answers.workers)
        self._fitted_answers = answers

    def _answers_of_fit(self, purpose: str) -> Answers:
        self.truths_  # noqa: B018  (NotFittedError before a fit)
        answers = self._fitted_answers
        if answers is None:
            raise InputError(f"{purpose} needs the answers in this process; it is not available after a Dask fit")
        return answers

    def workers_report(self) -> pd.DataFrame:
        """One row per worker of the last fit: weight, weight share, answers, mean absolute deviation from the
        estimates, gold record, and who flagged it; flagged workers first (see
        :func:`~truthguard.aggregators.report.workers_report`). The model keeps a reference to the answers it
        was fitted on (no copy) for this report.

        Raises:
            NotFittedError: Not fitted yet.
            InputError: Fitted on a Dask cluster (the answers are not in this process).
        """
        return workers_report(self, self._answers_of_fit("workers_report"))

    def fit_predict(
        self,
        data: Answers | pd.DataFrame,
        gold: pd.Series | pd.DataFrame | None = None,
        gold_screen: bool | float = False,
    ) -> pd.Series:
        """Fit and return ``truths_``."""
        return self.fit(data, gold=gold, gold_screen=gold_screen).truths_

    def _fit_checked(self, answers: Answers, start: npt.NDArray[np.float64] | None = None) -> _Fit:
        """The fit of ``answers`` (from the estimates ``start`` when given) in a safe range of magnitudes,
        checked finite, dominated estimates warned of."""
        exponent = _working_exponent(answers.value)
        if exponent:
            scaled_answers = answers.with_values(np.ldexp(answers.value, -exponent))
            if answers.gold is not None:
                scaled_answers = scaled_answers.with_gold(np.ldexp(answers.gold, -exponent))
            scaled_start = None if start is None else np.ldexp(start, -exponent)
            scaled = self._in_units(exponent)._fit_from(scaled_answers, scaled_start)
            self._check_finite(scaled, answers.tasks, answers.workers)
            # With every answer equal the weights are the guards' (unit-free, see overall_std): not scaled.
            units = self._weight_units() if np.ptp(answers.value) > 0 else 0
            with np.errstate(over="ignore", under="ignore"):  # precisions of such answers may not be representable
                weights = np.minimum(np.ldexp(scaled.weights, units * exponent), np.finfo(np.float64).max)
            fit = replace(scaled, truths=np.ldexp(scaled.truths, exponent), weights=weights)
        else:
            fit = self._fit_from(answers, start)
            self._check_finite(fit, answers.tasks, answers.workers)
        if self._can_be_dominated():
            self._warn_dominated(answers.tasks[dominated_tasks(answers, fit.truths)])
        return fit

    def _fit_screened(self, answers: Answers, flagged: npt.NDArray[np.bool_], start: Any) -> _Fit:
        """The fit without the answers of the ``flagged`` workers (weight 0), over every task: a task left
        without answers takes the estimate of the fit on every answer (warned of)."""
        kept = answers.select(~flagged[answers.worker])
        place = answers.tasks.get_indexer(kept.tasks)
        fit = self._fit_checked(kept, None if start is None else start[place])
        truths = np.full(answers.n_tasks, np.nan)
        truths[place] = fit.truths
        weights = np.zeros(answers.n_workers)
        weights[answers.workers.get_indexer(kept.workers)] = fit.weights
        assert answers.gold is not None
        orphans = np.isnan(truths) & np.isnan(answers.gold)
        if orphans.any():
            truths[orphans] = self._fit_checked(answers).truths[orphans]
            first = show(answers.tasks[int(np.flatnonzero(orphans)[0])])
            warnings.warn(
                GoldScreenWarning(
                    f"{int(orphans.sum())} task(s) were answered only by workers the gold screen flagged (e.g. "
                    f"task {first}): their estimates use every answer"
                ),
                stacklevel=3,
            )
        return replace(fit, truths=truths, weights=weights)

    def _set_fitted(self, fit: _Fit, tasks: pd.Index, workers: pd.Index) -> Self:
        self.truths_ = pd.Series(fit.truths, index=tasks.rename("task"), name="value")
        self.weights_ = pd.Series(fit.weights, index=workers.rename("worker"), name="weight")
        self.n_iter_ = fit.n_iter
        self.converged_ = fit.converged
        self.objective_history_ = fit.history
        self.screened_ = None
        self.gold_record_ = None
        self._fitted_answers = None
        return self

    def _check_finite(self, fit: _Fit, tasks: pd.Index, workers: pd.Index) -> None:
        for what, values, labels in (("estimate", fit.truths, tasks), ("weight", fit.weights, workers)):
            bad = ~np.isfinite(values)
            if bad.any():
                first = labels[int(np.flatnonzero(bad)[0])]
                raise NumericalError(
                    f"{type(self).__name__} produced {int(bad.sum())} non-finite {what}(s), e.g. for {show(first)}; "
                    "this is a bug, please report it with the answers (a median is unaffected meanwhile)"
                )

    def _can_be_dominated(self) -> bool:
        """Whether one far-off answer can dominate an estimate (a plain median's cannot: the check is skipped)."""
        return True

    def _warn_dominated(self, dominated: pd.Index) -> None:
        """Warn about the tasks (labels) whose estimate one far-off answer dominates, if any."""
        if dominated.size == 0:
            return
        shown = ", ".join(show(task) for task in dominated[:3]) + (", ..." if dominated.size > 3 else "")
        warnings.warn(
            DominatedEstimateWarning(
                f"{dominated.size} task(s) have a {type(self).__name__} estimate dominated by a single answer more "
                f"than ten times farther out than the task's other answers (task {shown}): "
                f"{type(self).__name__} weights workers, not answers; check those answers or use a robust "
                "aggregator (median, trimmed-mean)"
            ),
            stacklevel=3,
        )

    # --------------------------------------------------------------- what subclasses provide

    def _in_units(self, exponent: int) -> Self:
        """This estimator for answers divided by :math:`2^{exponent}`: hyper-parameters with the answers'
        units scaled along (none by default)."""
        return self

    def _weight_units(self) -> int:
        """The power of the answers' unit in ``weights_`` (0: unitless; -2: precisions, 1 / variance)."""
        return 0

    def _worker_weights(self, answers: Answers) -> np.ndarray[Any, Any]:
        """Weights reported by one-shot aggregators: all ones unless the method takes fixed weights."""
        return np.ones(answers.n_workers)

    def _fit(self, answers: Answers) -> _Fit:
        weights = self._worker_weights(answers)
        truths = self._estimate(NUMPY, Claims.from_answers(answers), weights)
        return _Fit(np.asarray(truths), weights, 0, True, [])

    def _estimate(self, be: ArrayBackend, claims: Claims, worker_weights: Array) -> Array:
        """One-shot estimate per task (non-iterative aggregators override this)."""
        raise NotImplementedError

    def _fit_from(self, answers: Answers, start: npt.NDArray[np.float64] | None) -> _Fit:
        """The fit, started from the estimates ``start`` where the method iterates (others ignore it)."""
        return self._fit(answers)


class IterativeAggregator(Aggregator):
    r"""Truth discovery by block-coordinate updates of worker weights and task truths.

    From initial truths :math:`x^{*(0)}` it repeats, for :math:`t = 1, 2, \dots`:

    1. weight step: worker weights :math:`w^{(t)}` from the truths :math:`x^{*(t-1)}`;
    2. truth step: truths :math:`x^{*(t)}` from the weights :math:`w^{(t)}`;

    and stops when :math:`\max_m |x^{*(t)}_m - x^{*(t-1)}_m| \le \mathrm{tol} \cdot s`, with :math:`s` the
    standard deviation of all answers (a scale-aware, translation-invariant test), or after ``max_iter``
    iterations. ``objective_history_[t-1]`` is the method's objective at :math:`(x^{*(t-1)}, w^{(t)})`; for
    methods that are exact block-coordinate descent on it (CRH, GTM, LFC-N, CATD) it never increases.

    Args:
        max_iter: Maximum number of iterations.
        tol: Convergence tolerance, relative to the answers' standard deviation.
        init: Initial truths: per-task ``"median"`` or ``"mean"`` of the answers.
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "max_iter": [Interval("integer", 1, None)],
        "tol": [Interval("real", 0, None)],
        "init": [Options(INITIALISATIONS)],
    }

    def __init__(self, max_iter: int = 100, tol: float = 1e-6, init: str = "median") -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.init = init

    # The fit as stages over partitions of the answers, each holding whole tasks (see
    # truthguard.aggregators.partitions): per-partition work, and small summaries that cross partitions.

    def _prepare_local(self, be: ArrayBackend, claims: Claims) -> tuple[Any, Any]:
        """One partition's per-fit constants that need nothing from other partitions, and the summary of the
        partition (:mod:`truthguard.core.summaries`) the shared constants are computed from."""
        raise NotImplementedError

    def _share(self, be: ArrayBackend, worker_counts: Array, summary: Any) -> Any:
        """The per-fit constants every partition shares (scalars, per-worker arrays), from the merged summary
        and the answers per worker."""
        raise NotImplementedError

    def _prepare_with(self, be: ArrayBackend, claims: Claims, local: Any, shared: Any) -> Any:
        """A partition's per-fit constants, passed to every other step; they keep ``shared`` as ``.shared``."""
        raise NotImplementedError

    def _prepare(self, be: ArrayBackend, claims: Claims) -> Any:
        """Per-fit constants (e.g. per-task spreads) of answers in one piece."""
        local, summary = self._prepare_local(be, claims)
        return self._prepare_with(be, claims, local, self._share(be, claims.worker_counts, summary))

    @abstractmethod
    def _initial_truths(self, be: ArrayBackend, claims: Claims, prep: Any) -> Array:
        """Truths :math:`x^{*(0)}` in the method's working scale."""

    def _worker_sums(self, be: ArrayBackend, claims: Claims, prep: Any, truths: Array) -> Any:
        """The summary the weight step needs from a partition: per-worker sums (and totals) at ``truths``."""
        raise NotImplementedError

    def _weights(self, be: ArrayBackend, shared: Any, sums: Any) -> Step:
        """Worker weights, with the objective value, from the merged per-worker sums."""
        raise NotImplementedError

    def _truths_and_sums(self, be: ArrayBackend, claims: Claims, prep: Any, weights: Array) -> tuple[Array, Any]:
        """The truth step from ``weights`` (gold tasks anchored) and the per-worker sums at its truths (for
        the next weight step): in one pass over the answers (:meth:`_one_pass`) when the method has one and
        no task is gold, else the two steps."""
        if claims.anchor is None:
            both = self._one_pass(be, claims, prep, weights)
            if both is not None:
                return both
        truths = self._anchored(be, claims, prep, self._truth_step(be, claims, prep, weights))
        return truths, self._worker_sums(be, claims, prep, truths)

    def _one_pass(self, be: ArrayBackend, claims: Claims, prep: Any, weights: Array) -> tuple[Array, Any] | None:
        """The truth step and the next per-worker sums in one pass over the answers, or None where the method
        has no such pass (it anchors no gold task: :meth:`_truths_and_sums` takes the two steps then)."""
        return None

    def _anchored(self, be: ArrayBackend, claims: Claims, prep: Any, truths: Array) -> Array:
        """``truths`` (working scale) with every gold task at its known value (``claims.anchor``), so that
        the weight step measures the workers' distances on gold tasks from the truth."""
        if claims.anchor is None:
            return truths
        known = self._to_working(be, claims, prep, claims.anchor)
        return be.xp.where(be.xp.isnan(known), truths, known)

    def _weight_step(self, be: ArrayBackend, claims: Claims, prep: Any, truths: Array) -> Step:
        """Worker weights from truths, with the objective value."""
        return self._weights(be, prep.shared, self._worker_sums(be, claims, prep, truths))

    @abstractmethod
    def _truth_step(self, be: ArrayBackend, claims: Claims, prep: Any, weights: Array) -> Array:
        """Truths from worker weights."""

    def _output(self, be: ArrayBackend, claims: Claims, prep: Any, truths: Array) -> Array:
        """Truths in the answers' scale (methods working on standardised values map back here)."""
        return truths

    def _to_working(self, be: ArrayBackend, claims: Claims, prep: Any, estimate: Array) -> Array:
        """The inverse of :meth:`_output`: estimates in the answers' scale to the working scale."""
        return estimate

    def _iterate(self, be: ArrayBackend, claims: Claims, prep: Any, truths: Array) -> tuple[Array, Step]:
        """One iteration, the method's fixed-point map: weights from ``truths``, then truths from the weights.

        Returns the new truths and the weight step (weights and objective). The optimised attack
        differentiates it at the fixed point.
        """
        step = self._weight_step(be, claims, prep, truths)
        return self._anchored(be, claims, prep, self._truth_step(be, claims, prep, step.weights)), step

    def _fit(self, answers: Answers) -> _Fit:
        claims = Claims.from_answers(answers)
        fit, _ = self._solve(NUMPY, claims, self._prepare(NUMPY, claims))
        return fit

    #: Whether a fit may start from other estimates (``partial_fit``) and still end where a fit from the
    #: initial truths ends. Methods whose weights can lock onto a worker an earlier estimate favoured (LFC-N,
    #: CATD: 1 / residual^2 without a prior) say False and start afresh.
    _warm_starts: ClassVar[bool] = True

    def _fit_from(self, answers: Answers, start: npt.NDArray[np.float64] | None) -> _Fit:
        if start is None or not self._warm_starts:
            return self._fit(answers)
        claims = Claims.from_answers(answers)
        return self._solve(NUMPY, claims, self._prepare(NUMPY, claims), start)[0]

    def _replicate(self, answers: Answers, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The truth step at the fitted ``weights`` (gold tasks anchored), in the answers' scale."""
        claims = Claims.from_answers(answers)
        prep = self._prepare(NUMPY, claims)
        truths = self._anchored(NUMPY, claims, prep, self._truth_step(NUMPY, claims, prep, weights))
        return np.asarray(self._output(NUMPY, claims, prep, truths))

    def _start_from(self, answers: Answers, weights: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Estimates to iterate from, given worker ``weights`` (``partial_fit``): the truth step at them."""
        return self._replicate(answers, weights)

    def _solve(self, be: ArrayBackend, claims: Claims, prep: Any, start: Array | None = None) -> tuple[_Fit, Array]:
        """Iterate to convergence from the initial truths, or from the estimates ``start`` (a warm start, e.g.
        a fit on nearly the same answers): the fit, and the final truths in the working scale (what methods
        built on this one, such as defenses, continue from)."""
        run = iterate(self, be, IN_PROCESS, Parts([claims]), Parts([prep]), prep.shared, _parts(start))
        position = run.positions[0]
        fit = _Fit(np.asarray(position.estimate), np.asarray(run.weights), run.n_iter, run.converged, run.history)
        return fit, position.truths


def _parts(start: Array | None) -> Parts | None:
    return None if start is None else Parts([start])


#: Answers whose largest magnitude has a binary exponent beyond this are rescaled before the arithmetic.
_SAFE_EXPONENT = 256


def _working_exponent(values: np.ndarray[Any, Any]) -> int:
    """0 for answers of ordinary magnitude; else the binary exponent that brings the largest into [0.5, 1)."""
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    exponent = math.frexp(largest)[1] if largest > 0 else 0
    return exponent if abs(exponent) > _SAFE_EXPONENT else 0


def require_aggregator(aggregator: Any, *, foreign: bool = False) -> None:
    """Raise :class:`~truthguard.errors.InputError` unless ``aggregator`` is an aggregator object.

    With ``foreign=True`` any object with a ``fit_predict`` method is accepted too (the black-box attack's
    contract); the messages name the usual mistakes: a class instead of an instance, a method's name.
    """
    if isinstance(aggregator, Aggregator):
        return
    if isinstance(aggregator, type):
        raise InputError(f"aggregator must be an instance, e.g. {aggregator.__name__}(); got the class itself")
    if isinstance(aggregator, str):
        raise InputError(
            f"aggregator must be an aggregator object, e.g. CRH(); got the text {aggregator!r} "
            f"(truthguard.aggregators.make_aggregator({aggregator!r}) builds one by name)"
        )
    if foreign and callable(getattr(aggregator, "fit_predict", None)):
        return
    wanted = "a TruthGuard aggregator" + (" or an object with fit_predict" if foreign else "")
    raise InputError(f"aggregator must be {wanted}, e.g. CRH(); got {type(aggregator).__name__}")


def resolve_worker_weights(
    weights: pd.Series | None, default: float | None, workers: pd.Index, owner: str
) -> np.ndarray[Any, Any]:
    """Fixed per-worker weights aligned with ``workers``; workers missing from ``weights`` get ``default``."""
    if weights is None:
        return np.ones(len(workers))
    numeric = pd.to_numeric(weights, errors="coerce")
    if (numeric.isna() & weights.notna()).any():
        bad = weights[numeric.isna() & weights.notna()]
        raise InputError(f"{owner} weight {show(bad.iloc[0])} of worker {show(bad.index[0])} is not a number")
    aligned = align_to_labels(numeric, workers)
    missing = np.isnan(aligned)
    if missing.any():
        if default is None:
            raise InputError(
                f"{owner} has no weight for {int(missing.sum())} worker(s), "
                f"e.g. {show(workers[int(np.flatnonzero(missing)[0])])}; "
                "give them weights or set default_weight"
            )
        aligned[missing] = default
    if not np.all(np.isfinite(aligned)) or np.any(aligned < 0):
        raise InputError(f"{owner} weights must be finite and >= 0")
    return aligned
