"""Defenses by name, for the command line and configuration files."""

from __future__ import annotations

from typing import Any

from truthguard.aggregators.base import Aggregator
from truthguard.aggregators.registry import MethodInfo
from truthguard.defenses.cap import WeightCap
from truthguard.defenses.detectors import RemoveThenAggregate
from truthguard.defenses.mie import MIE
from truthguard.defenses.mwa import MWA, WorkerGroupMWA
from truthguard.errors import InputError

__all__ = ["DEFENSES", "describe_defenses", "make_defense"]

#: Every defense wraps a base method, given as its ``base`` hyper-parameter.
DEFENSES: dict[str, type[Aggregator]] = {
    cls.name: cls for cls in (MWA, WorkerGroupMWA, MIE, RemoveThenAggregate, WeightCap)
}


def make_defense(name: str, base: Aggregator, **params: Any) -> Aggregator:
    """The defense registered as ``name`` around ``base``, with the given hyper-parameters (checked at once).

    Raises:
        InputError: Unknown defense or parameter, an invalid value, or a base the defense cannot wrap.
    """
    try:
        cls = DEFENSES[name.lower()]
    except KeyError:
        raise InputError(f"unknown defense {name!r}; choose one of {', '.join(DEFENSES)}") from None
    defense = cls().set_params(base=base, **params)
    defense._validate_params()
    return defense


def describe_defenses() -> list[MethodInfo]:
    """Every registered defense with its summary and default hyper-parameters (``base`` aside)."""
    return [
        MethodInfo(name, cls, cls.summary, {k: v for k, v in cls.param_defaults().items() if k != "base"})
        for name, cls in DEFENSES.items()
    ]
