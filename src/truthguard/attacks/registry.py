"""Attacks by name, for the command line."""

from __future__ import annotations

from typing import Any

from truthguard.attacks.base import Attack
from truthguard.attacks.baselines import MaximumAttack, RandomAttack
from truthguard.attacks.blackbox import BlackBoxAttack
from truthguard.attacks.optimized import OptimizedAttack
from truthguard.attacks.threat import ThreatModel
from truthguard.errors import InputError

__all__ = ["ATTACKS", "make_attack"]

ATTACKS: dict[str, type[Attack]] = {
    cls.name: cls for cls in (OptimizedAttack, BlackBoxAttack, RandomAttack, MaximumAttack)
}


def make_attack(name: str, threat: ThreatModel | None = None, /, **params: Any) -> Attack:
    """Build the attack registered as ``name`` with a threat model and hyper-parameters.

    Raises:
        InputError: Unknown attack name or parameter, or an invalid value.
    """
    try:
        cls = ATTACKS[name.lower()]
    except KeyError:
        raise InputError(f"unknown attack {name!r}; choose one of {', '.join(ATTACKS)}") from None
    if "threat" in params:
        raise InputError("the threat model is not an attack parameter; set it with the threat options")
    attack = cls(threat).set_params(**params)
    attack._validate_params()
    return attack
