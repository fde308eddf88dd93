"""Robust location estimators per task: the Huber M-estimator and the mean around the median."""

from __future__ import annotations

from typing import ClassVar

from truthguard.aggregators.base import Aggregator
from truthguard.core.backend import Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.core.params import Constraint, Interval
from truthguard.core.segments import segment_mean_nearest, segment_weighted_mean, segment_weighted_median

__all__ = ["Huber", "MeanAroundMedian"]

#: 1 / Phi^-1(3/4): the median absolute deviation of a normal sample times this estimates its standard deviation.
MAD_TO_SD = 1.482602218505602


class Huber(Aggregator):
    r"""Huber's M-estimator of each task's value (Huber, "Robust Estimation of a Location Parameter", Ann.
    Math. Statist. 1964; Huber & Ronchetti, *Robust Statistics*, 2009, §3.2).

    .. math::
        \hat x_m = \arg\min_\mu \sum_{i \in N_m} \rho_c\Big(\frac{x_i^m - \mu}{s_m}\Big), \qquad
        \rho_c(r) = \begin{cases} r^2 / 2 & |r| \le c \\ c |r| - c^2 / 2 & |r| > c \end{cases}

    with :math:`s_m = 1.4826 \cdot \mathrm{MAD}_m` the task's scaled median absolute deviation, computed
    by ``n_steps`` iteratively reweighted means from the median, weights
    :math:`\min(1, c\, s_m / |x_i^m - \mu|)`. Answers within :math:`c` robust standard deviations count fully,
    farther ones with a bounded influence: breakdown point 1/2 like the median, 95 % of the mean's efficiency
    on normal answers at the default :math:`c = 1.345`. A task whose MAD is 0 (most answers equal) keeps its
    median. Each step is a contraction from the median: 30 steps reach the fixed point to 1e-14 of the
    answers' spread on Emotion and 2e-7 on Weather (against 300 steps).

    Args:
        c: The threshold, in robust standard deviations, beyond which answers lose weight.
        n_steps: Reweighting steps (a fixed number: the same computation in every fit and its gradient).

    Examples:
        >>> import pandas as pd
        >>> from truthguard.aggregators import Huber
        >>> df = pd.DataFrame({"task": [1] * 5, "worker": list("abcde"), "value": [1.0, 2.0, 3.0, 4.0, 100.0]})
        >>> round(float(Huber().fit_predict(df).iloc[0]), 4)
        3.0
    """

    name = "huber"
    summary = "per-task Huber M-estimate (scale: the task's MAD), robust and nearly as efficient as the mean"
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "c": [Interval("real", 0, None, "neither")],
        "n_steps": [Interval("integer", 1, None)],
    }

    def __init__(self, c: float = 1.345, n_steps: int = 30) -> None:
        self.c = c
        self.n_steps = n_steps

    def _estimate(self, be: ArrayBackend, claims: Claims, worker_weights: Array) -> Array:
        xp = be.xp
        task, n_tasks = claims.task, claims.n_tasks
        median = segment_weighted_median(be, claims.value, None, task, n_tasks, claims.value_order(be))
        deviation = xp.abs(claims.value - median[task])
        scale = MAD_TO_SD * segment_weighted_median(be, deviation, None, task, n_tasks)
        threshold = float(self.c) * scale[task]
        estimate = median
        for _ in range(int(self.n_steps)):
            residual = xp.abs(claims.value - estimate[task])
            far = residual > threshold
            weights = xp.where(far, threshold / xp.where(far, residual, 1.0), 1.0)
            estimate = segment_weighted_mean(be, claims.value, weights, task, n_tasks, median)
        return estimate


class MeanAroundMedian(Aggregator):
    r"""The mean of each task's answers nearest its median: the :math:`\lfloor \beta n_m \rfloor` answers
    farthest from the median dropped (``trim`` is :math:`\beta`), the rest averaged; answers tied in distance
    at the boundary share the places left (:func:`~truthguard.core.segments.segment_mean_nearest`).

    Unlike the symmetric trimmed mean it drops from whichever side the outliers are on, so :math:`k`
    attackers pushing one way need :math:`\beta n_m \ge k` to be removed, not :math:`2k` trimming. The
    "mean around median" of Byzantine-robust learning (Xie, Koyejo, Gupta, "Generalized Byzantine-tolerant
    SGD", 2018), applied per task.

    Args:
        trim: Fraction :math:`\beta` of each task's answers dropped, in [0, 1).

    Examples:
        >>> import pandas as pd
        >>> from truthguard.aggregators import MeanAroundMedian
        >>> df = pd.DataFrame({"task": [1] * 5, "worker": list("abcde"), "value": [1.0, 2.0, 3.0, 4.0, 100.0]})
        >>> MeanAroundMedian(trim=0.2).fit_predict(df).tolist()
        [2.5]
    """

    name = "mean-around-median"
    summary = "per-task mean of the answers nearest the median (a fraction of the farthest dropped)"
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {"trim": [Interval("real", 0, 1, "left")]}

    def __init__(self, trim: float = 0.3) -> None:
        self.trim = trim

    def _estimate(self, be: ArrayBackend, claims: Claims, worker_weights: Array) -> Array:
        task, n_tasks = claims.task, claims.n_tasks
        median = segment_weighted_median(be, claims.value, None, task, n_tasks, claims.value_order(be))
        return segment_mean_nearest(be, claims.value, median, task, n_tasks, float(self.trim))
