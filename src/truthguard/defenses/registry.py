"""Defenses by name, for the command line and configuration files."""

from __future__ import annotations

from typing import Any

from truthguard.aggregators.base import Aggregator
from truthguard.aggregators.registry import MethodInfo
from truthguard.defenses.cap import WeightCap
from truthguard.defenses.detectors import DETECTORS, Detector, RemoveThenAggregate
from truthguard.defenses.mie import MIE
from truthguard.defenses.mwa import MWA, WorkerGroupMWA
from truthguard.errors import InputError

__all__ = ["DEFENSES", "describe_defenses", "make_defense", "make_detector"]

#: Every defense wraps a base method, given as its ``base`` hyper-parameter.
DEFENSES: dict[str, type[Aggregator]] = {
    cls.name: cls for cls in (MWA, WorkerGroupMWA, MIE, RemoveThenAggregate, WeightCap)
}


def make_defense(name: str, base: Aggregator, assumed: dict[str, Any] | None = None, **params: Any) -> Aggregator:
    """The defense registered as ``name`` around ``base``, with the given hyper-parameters (checked at once).

    ``assumed`` are values the defense takes when it has such a parameter and ``params`` do not set it (the
    attack's number of malicious workers, for MIE and ``remove``). A ``detector`` given by name (``remove``'s)
    is built on the same base.

    Raises:
        InputError: Unknown defense or parameter, an invalid value, or a base the defense cannot wrap.
    """
    try:
        cls = DEFENSES[name.lower()]
    except KeyError:
        raise InputError(f"unknown defense {name!r}; choose one of {', '.join(DEFENSES)}") from None
    names = cls._param_names()
    params = {k: v for k, v in (assumed or {}).items() if k in names and k not in params} | params
    if isinstance(params.get("detector"), str):
        params["detector"] = make_detector(params["detector"], base)
    defense = cls().set_params(base=base, **params)
    defense._validate_params()
    return defense


def describe_defenses() -> list[MethodInfo]:
    """Every registered defense with its summary and default hyper-parameters (``base`` aside)."""
    return [
        MethodInfo(name, cls, cls.summary, {k: v for k, v in cls.param_defaults().items() if k != "base"})
        for name, cls in DEFENSES.items()
    ]


def make_detector(name: str, base: Aggregator | None = None) -> Detector:
    """The detector registered as ``name``, built on ``base`` when it reads a base method's fit (the
    collusion score reads none).

    Raises:
        InputError: Unknown detector.
    """
    try:
        cls = DETECTORS[name.lower()]
    except KeyError:
        raise InputError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}") from None
    return cls().set_params(base=base) if base is not None and "base" in cls.param_defaults() else cls()
