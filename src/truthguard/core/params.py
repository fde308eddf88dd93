"""Hyper-parameters the scikit-learn way, shared by aggregators and attacks.

Hyper-parameters are the ``__init__`` arguments, stored unchanged under the same names; ``get_params``,
``set_params``, ``clone`` and ``repr`` are derived from the signature, so a class declares each one once.
"""

from __future__ import annotations

import inspect
from typing import Any, Self

from truthguard.errors import InputError

__all__ = ["Configurable"]


class Configurable:
    """Mixin: ``get_params`` / ``set_params`` / ``clone`` / ``repr`` from the ``__init__`` signature."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            p.name
            for p in signature.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """Each hyper-parameter's default value."""
        signature = inspect.signature(cls.__init__)
        return {name: signature.parameters[name].default for name in cls._param_names()}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyper-parameters as given to ``__init__`` (``deep`` is accepted for scikit-learn compatibility)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set hyper-parameters by name; unknown names raise :class:`~truthguard.errors.InputError`."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise InputError(
                    f"{type(self).__name__} has no parameter {key!r}; valid parameters: {', '.join(valid) or 'none'}"
                )
            setattr(self, key, value)
        return self

    def clone(self) -> Self:
        """An unfitted copy with the same hyper-parameters."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        defaults = self.param_defaults()
        shown = [
            f"{k}={v!r}" for k, v in self.get_params().items() if not _same(defaults.get(k, inspect.Parameter.empty), v)
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except (TypeError, ValueError):
        return False
