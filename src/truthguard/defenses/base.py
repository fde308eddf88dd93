"""What every defense shares: it wraps a base method, whose checks, units and rescaling are its own."""

from __future__ import annotations

from typing import Self

from truthguard.aggregators.base import Aggregator

__all__ = ["Defense"]


class Defense(Aggregator):
    """An aggregator around a base method (its ``base`` hyper-parameter)."""

    base: Aggregator

    def _check_params(self) -> None:
        self.base._validate_params()

    def _weight_units(self) -> int:
        return self.base._weight_units()  # weights_ are the base method's

    def _in_units(self, exponent: int) -> Self:
        scaled = self.base._in_units(exponent)
        return self if scaled is self.base else self.clone().set_params(base=scaled)
