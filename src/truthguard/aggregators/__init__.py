"""Aggregators: estimate each task's value from many workers' answers.

Every class follows the same estimator protocol (:class:`~truthguard.aggregators.base.Aggregator`):
``fit(answers)`` returns the estimator with ``truths_``, ``weights_``, ``n_iter_``, ``converged_`` and
``objective_history_``; ``fit_predict(answers)`` returns ``truths_``.
"""

from truthguard.aggregators.base import Aggregator, IterativeAggregator
from truthguard.aggregators.basic import Mean, Median, TrimmedMean
from truthguard.aggregators.crh import CRH
from truthguard.aggregators.gaussian import CATD, GTM, LFCN
from truthguard.aggregators.registry import AGGREGATORS, MethodInfo, describe_methods, make_aggregator
from truthguard.aggregators.robust import Huber, MeanAroundMedian

__all__ = [
    "AGGREGATORS",
    "CATD",
    "CRH",
    "GTM",
    "LFCN",
    "Aggregator",
    "Huber",
    "IterativeAggregator",
    "Mean",
    "MeanAroundMedian",
    "Median",
    "MethodInfo",
    "TrimmedMean",
    "describe_methods",
    "make_aggregator",
]
