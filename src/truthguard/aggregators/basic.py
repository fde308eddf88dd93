"""One-shot aggregators: (weighted) mean, (weighted) median and trimmed mean of each task's answers."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from truthguard.aggregators.base import Aggregator, resolve_worker_weights
from truthguard.core.answers import Answers
from truthguard.core.backend import Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.core.params import NONE, Constraint, InstanceOf, Interval
from truthguard.core.segments import (
    segment_mean,
    segment_median,
    segment_trimmed_mean,
    segment_weighted_mean_of_workers,
    segment_weighted_median,
)

__all__ = ["Mean", "Median", "TrimmedMean"]


class _FixedWeights(Aggregator):
    """Aggregators that accept optional fixed worker weights (e.g. reputations from another system)."""

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "weights": [InstanceOf(pd.Series, "a pandas Series of weights indexed by worker"), NONE],
        "default_weight": [Interval("real", 0, None), NONE],
    }

    def __init__(self, weights: pd.Series | None = None, default_weight: float | None = None) -> None:
        self.weights = weights
        self.default_weight = default_weight

    def _worker_weights(self, answers: Answers) -> np.ndarray[Any, Any]:
        return resolve_worker_weights(self.weights, self.default_weight, answers.workers, type(self).__name__)


class Mean(_FixedWeights):
    r"""Mean of each task's answers, optionally weighted by fixed worker weights.

    .. math:: \hat x_m = \frac{\sum_{i \in N_m} w_i x_i^m}{\sum_{i \in N_m} w_i}, \qquad w_i = 1 \text{ by default.}

    Breakdown point 0: a single worker can move it anywhere within the bounds. Tasks whose workers all have
    weight 0 get the plain mean.

    Args:
        weights: Optional Series of worker weights (>= 0) indexed by worker.
        default_weight: Weight of workers absent from ``weights`` (an error when None).

    Examples:
        >>> import pandas as pd
        >>> from truthguard.aggregators import Mean
        >>> df = pd.DataFrame({"task": [1, 1, 1], "worker": ["a", "b", "c"], "value": [1.0, 2.0, 9.0]})
        >>> Mean().fit_predict(df).tolist()
        [4.0]
        >>> Mean(weights=pd.Series({"a": 1.0, "b": 1.0, "c": 0.0})).fit_predict(df).tolist()
        [1.5]
    """

    name = "mean"
    summary = "per-task mean (optionally with fixed worker weights)"

    def _estimate(self, be: ArrayBackend, claims: Claims, worker_weights: Array) -> Array:
        plain = segment_mean(be, claims.value, claims.task, claims.n_tasks, claims.task_counts)
        return segment_weighted_mean_of_workers(
            be, claims.value, worker_weights, claims.worker, claims.task, claims.task_counts, plain
        )


class Median(_FixedWeights):
    r"""Median of each task's answers, optionally the weighted median under fixed worker weights.

    .. math:: \hat x_m = \arg\min_v \sum_{i \in N_m} w_i \, |x_i^m - v|

    With equal weights this is the ordinary median (the mean of the two middle answers for an even count);
    when the minimisers form an interval, its midpoint is returned. Breakdown point 1/2.

    Args:
        weights: Optional Series of worker weights (>= 0) indexed by worker: the weighted median.
        default_weight: Weight of workers absent from ``weights`` (an error when None).

    Examples:
        >>> import pandas as pd
        >>> from truthguard.aggregators import Median
        >>> df = pd.DataFrame({"task": [1, 1, 1, 1], "worker": list("abcd"), "value": [1.0, 2.0, 4.0, 90.0]})
        >>> Median().fit_predict(df).tolist()
        [3.0]
        >>> Median(weights=pd.Series({"a": 3.0, "b": 1.0, "c": 1.0, "d": 1.0})).fit_predict(df).tolist()
        [1.5]
    """

    name = "median"
    summary = "per-task median (weighted median with fixed worker weights)"

    def _can_be_dominated(self) -> bool:
        return self.weights is not None  # one heavy worker can carry a weighted median; a plain median, never

    def _estimate(self, be: ArrayBackend, claims: Claims, worker_weights: Array) -> Array:
        if self.weights is None:  # the plain median: compiled at scale, no sort of all the answers
            return segment_median(
                be, claims.value, claims.task, claims.n_tasks, claims.task_counts, lambda: claims.value_order(be)
            )
        per_answer = worker_weights[claims.worker]
        return segment_weighted_median(
            be, claims.value, per_answer, claims.task, claims.n_tasks, claims.value_order(be)
        )


class TrimmedMean(Aggregator):
    r"""Symmetric trimmed mean of each task's answers.

    With :math:`n_m` answers on task :math:`m`, drop the :math:`k = \lfloor \beta n_m \rfloor` smallest and
    :math:`k` largest and average the rest (Huber & Ronchetti, *Robust Statistics*, 2nd ed., 2009). It
    survives up to :math:`k` malicious answers per task, so :math:`\beta` should exceed the share of malicious
    answers a task may receive (Yin et al., ICML 2018, use it as a Byzantine-robust aggregator).

    Args:
        trim: Fraction :math:`\beta` cut from each end, in [0, 0.5).

    Examples:
        >>> import pandas as pd
        >>> from truthguard.aggregators import TrimmedMean
        >>> df = pd.DataFrame({"task": [1] * 5, "worker": list("abcde"), "value": [1.0, 2.0, 3.0, 4.0, 100.0]})
        >>> TrimmedMean(trim=0.2).fit_predict(df).tolist()
        [3.0]
    """

    name = "trimmed-mean"
    summary = "per-task mean after cutting a fraction of the lowest and highest answers"
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {"trim": [Interval("real", 0, 0.5, "left")]}

    def __init__(self, trim: float = 0.1) -> None:
        self.trim = trim

    def _estimate(self, be: ArrayBackend, claims: Claims, worker_weights: Array) -> Array:
        return segment_trimmed_mean(
            be, claims.value, claims.task, claims.n_tasks, float(self.trim), claims.value_order(be)
        )
