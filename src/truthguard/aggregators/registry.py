"""Aggregators by name, for the command line and for configuration files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from truthguard.aggregators.base import Aggregator
from truthguard.aggregators.basic import Mean, Median, TrimmedMean
from truthguard.aggregators.crh import CRH
from truthguard.aggregators.gaussian import CATD, GTM, LFCN
from truthguard.aggregators.robust import Huber, MeanAroundMedian
from truthguard.errors import InputError

__all__ = ["AGGREGATORS", "MethodInfo", "describe_methods", "make_aggregator"]

AGGREGATORS: dict[str, type[Aggregator]] = {
    cls.name: cls for cls in (Mean, Median, TrimmedMean, CRH, GTM, CATD, LFCN, Huber, MeanAroundMedian)
}


@dataclass(frozen=True)
class MethodInfo:
    """What ``truthguard methods`` shows about one aggregator."""

    name: str
    cls: type[Aggregator]
    summary: str
    params: dict[str, Any]  # name -> default


def make_aggregator(name: str, **params: Any) -> Aggregator:
    """Build the aggregator registered as ``name`` with the given hyper-parameters.

    Raises:
        InputError: Unknown method name or parameter, or an invalid parameter value.
    """
    try:
        cls = AGGREGATORS[name.lower()]
    except KeyError:
        raise InputError(f"unknown method {name!r}; choose one of {', '.join(AGGREGATORS)}") from None
    aggregator = cls().set_params(**params)
    aggregator._validate_params()  # fail on a bad value now, before any data is read
    return aggregator


def describe_methods() -> list[MethodInfo]:
    """Every registered aggregator with its one-line summary and default hyper-parameters."""
    return [MethodInfo(name, cls, cls.summary, cls.param_defaults()) for name, cls in AGGREGATORS.items()]
