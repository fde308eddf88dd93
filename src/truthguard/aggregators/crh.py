"""CRH: conflict resolution on heterogeneous data (Li et al., SIGMOD 2014), for continuous answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from truthguard.aggregators.base import IterativeAggregator, Step
from truthguard.core.backend import Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.core.params import Constraint, Options
from truthguard.core.segments import (
    segment_mean,
    segment_median,
    segment_scaled_square_sums,
    segment_std,
    segment_weighted_mean_and_scaled_square_sums,
    segment_weighted_mean_of_workers,
    segment_weighted_median,
)
from truthguard.core.summaries import Moments

__all__ = ["CRH"]

LOSSES = ("squared", "absolute")
NORMALIZATIONS = ("sum", "max")


@dataclass(frozen=True)
class _Local:
    std: Array  # per task; 0 where the task's answers do not spread (filled in from all answers)
    mean: Array  # plain per-task mean, the fallback of an all-zero-weight task
    order: Array | None  # answers sorted by (task, value), for the weighted median


@dataclass(frozen=True)
class _Summary:
    values: Moments  # of all answers: the spread of a task whose answers do not spread
    spread_total: Array  # sum of std_m * n_m over the tasks whose answers spread
    flat_count: Array  # answers of the tasks whose answers do not spread


@dataclass(frozen=True)
class _Shared:
    overall: Array  # standard deviation of all answers
    epsilon: Array  # guard added to every worker's distance


@dataclass(frozen=True)
class _Prep:
    inverse_std: Array  # per task, 1 / std of its answers
    mean: Array
    order: Array | None
    shared: _Shared


class CRH(IterativeAggregator):
    r"""CRH truth discovery for continuous data (Li, Li, Gao, Zhao, Fan, Han, SIGMOD 2014).

    CRH solves

    .. math::
        \min_{x^*, w} \sum_i w_i \sum_{m \in M_i} d(x_i^m, x_*^m)
        \quad \text{s.t.} \quad \sum_i e^{-w_i} = 1

    by block-coordinate descent. With the paper's normalised squared loss
    :math:`d(x, x^*) = (x - x^*)^2 / \mathrm{std}_m`, where :math:`\mathrm{std}_m` is the standard deviation
    (ddof 0) of the answers to task :math:`m`, the two blocks have closed forms:

    .. math::
        w_i = -\log \frac{D_i}{\sum_{i'} D_{i'}}, \quad D_i = \sum_{m \in M_i} d(x_i^m, x_*^m);
        \qquad
        x_*^m = \frac{\sum_{i \in N_m} w_i x_i^m}{\sum_{i \in N_m} w_i}.

    Two variants found in public code are options: ``loss="absolute"`` uses
    :math:`d = |x - x^*| / \mathrm{std}_m`, whose truth step is the weighted median (the default of Zheng et
    al.'s VLDB 2017 benchmark code), and ``normalization="max"`` divides :math:`D_i` by :math:`\max_{i'} D_{i'}`
    instead of the sum (also from that code; the worst worker then gets weight 0, and the weight step no
    longer minimises the objective, so ``objective_history_`` may rise).

    Guards: a task whose answers all agree (or that has one answer) uses for :math:`\mathrm{std}_m` the standard
    deviation of all answers (1 when they all agree), so that CRH stays equivariant under a change of units; each
    :math:`D_i` is raised by a constant :math:`\varepsilon = 10^{-10} \cdot \frac{1}{K}\sum_{\text{answers}}
    \delta_m`, with :math:`\delta_m` the typical distance of one answer in the loss's own unit
    (:math:`\mathrm{std}_m` for the squared loss, 1 for the absolute one; :math:`K` workers), so a worker who
    matches the truths exactly gets a large finite weight instead of :math:`+\infty`, and the objective with
    :math:`D_i + \varepsilon` is still minimised exactly by both steps.

    ``normalization="max"`` gives the worst worker weight exactly 0, so when the worst workers tie (e.g. two
    workers, whose distances to their midpoint are equal) rounding decides which of them gets all the weight
    in the next iteration: use it to reproduce that benchmark, not to aggregate.

    Args:
        loss: ``"squared"`` (the paper's) or ``"absolute"``.
        normalization: ``"sum"`` (the paper's) or ``"max"``.
        max_iter: Maximum number of iterations.
        tol: Convergence tolerance on the truths, relative to the answers' standard deviation.
        init: Initial truths: per-task ``"median"`` (Zheng et al.) or ``"mean"`` (uniform weights).

    Examples:
        >>> from truthguard.aggregators import CRH, Mean
        >>> from truthguard.datasets import make_synthetic
        >>> from truthguard.metrics import mae
        >>> data = make_synthetic(n_tasks=200, n_workers=10, seed=0)  # worker noise sd between 1 and 20
        >>> model = CRH().fit(data.answers)
        >>> round(mae(model.truths_, data.truth), 2), round(mae(Mean().fit_predict(data.answers), data.truth), 2)
        (2.12, 2.92)
        >>> bool(model.weights_.idxmax() == data.workers["sigma"].idxmin())  # the most precise worker weighs most
        True
    """

    name = "crh"
    summary = "CRH truth discovery (Li et al. SIGMOD 2014): -log distance-share weights, weighted mean"
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        **IterativeAggregator._parameter_constraints,
        "loss": [Options(LOSSES)],
        "normalization": [Options(NORMALIZATIONS)],
    }

    def __init__(
        self,
        loss: str = "squared",
        normalization: str = "sum",
        max_iter: int = 100,
        tol: float = 1e-6,
        init: str = "median",
    ) -> None:
        super().__init__(max_iter=max_iter, tol=tol, init=init)
        self.loss = loss
        self.normalization = normalization

    def _prepare_local(self, be: ArrayBackend, claims: Claims) -> tuple[_Local, _Summary]:
        xp = be.xp
        std = segment_std(be, claims.value, claims.task, claims.n_tasks, claims.task_counts, fallback=0.0)
        flat = std == 0
        # The weighted median of the absolute loss needs the answers' order in every truth step; the median
        # initialisation sorts for itself (the gradient, warm-started, never initialises: no sort there).
        order = claims.value_order(be) if self.loss == "absolute" else None
        mean = segment_mean(be, claims.value, claims.task, claims.n_tasks, claims.task_counts)
        local = _Local(std=std, mean=mean, order=order)
        summary = _Summary(
            values=Moments.of(be, claims.value),
            spread_total=xp.sum(std * claims.task_counts),
            flat_count=xp.sum(flat * claims.task_counts),
        )
        return local, summary

    def _share(self, be: ArrayBackend, worker_counts: Array, summary: _Summary) -> _Shared:
        # A constant task's spread is replaced by that of all answers, not by 1: a number without the answers'
        # unit would make the guard below, hence the weights, depend on the unit the answers are given in.
        overall = summary.values.std(be)
        # (x - x*)^2 / std is about std per answer, |x - x*| / std about 1: epsilon in the distances' unit.
        if self.loss == "squared":
            typical = summary.spread_total + overall * summary.flat_count
        else:
            typical = summary.values.count
        return _Shared(overall=overall, epsilon=1e-10 * typical / worker_counts.shape[0])

    def _prepare_with(self, be: ArrayBackend, claims: Claims, local: _Local, shared: _Shared) -> _Prep:
        std = be.xp.where(local.std > 0, local.std, shared.overall)
        return _Prep(inverse_std=1.0 / std, mean=local.mean, order=local.order, shared=shared)

    def _initial_truths(self, be: ArrayBackend, claims: Claims, prep: _Prep) -> Array:
        if self.init == "mean":
            return prep.mean
        order = prep.order
        return segment_median(
            be, claims.value, claims.task, claims.n_tasks, claims.task_counts,
            lambda: order if order is not None else claims.value_order(be),
        )  # fmt: skip

    def _worker_sums(self, be: ArrayBackend, claims: Claims, prep: _Prep, truths: Array) -> Array:
        if self.loss == "squared":
            return segment_scaled_square_sums(
                be, claims.value, truths, prep.inverse_std, claims.task, claims.task_counts, claims.worker,
                claims.n_workers,
            )  # fmt: skip
        loss = be.xp.abs(claims.value - truths[claims.task]) * prep.inverse_std[claims.task]
        return be.segment_sum(loss, claims.worker, claims.n_workers)

    def _weights(self, be: ArrayBackend, shared: _Shared, sums: Array) -> Step:
        xp = be.xp
        # Raising every D_i by epsilon keeps -log finite for a worker who matches the truths exactly.
        distance = sums + shared.epsilon
        normalizer = xp.sum(distance) if self.normalization == "sum" else xp.max(distance)
        weights = -xp.log(distance / normalizer)
        return Step(weights=weights, objective=xp.sum(weights * distance))

    def _one_pass(self, be: ArrayBackend, claims: Claims, prep: _Prep, weights: Array) -> tuple[Array, Array] | None:
        if self.loss != "squared":  # the weighted median's truth step has no one-pass form
            return None
        return segment_weighted_mean_and_scaled_square_sums(
            be, claims.value, weights, claims.worker, claims.task, claims.task_counts, prep.mean, prep.inverse_std,
            claims.n_workers,
        )  # fmt: skip

    def _truth_step(self, be: ArrayBackend, claims: Claims, prep: _Prep, weights: Array) -> Array:
        if self.loss == "squared":
            return segment_weighted_mean_of_workers(
                be, claims.value, weights, claims.worker, claims.task, claims.task_counts, prep.mean
            )
        per_answer = weights[claims.worker]
        return segment_weighted_median(be, claims.value, per_answer, claims.task, claims.n_tasks, prep.order)
