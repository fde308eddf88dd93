"""Hyper-parameters the scikit-learn way, shared by aggregators and attacks.

Hyper-parameters are the ``__init__`` arguments, stored unchanged under the same names; ``get_params``,
``set_params``, ``clone`` and ``repr`` are derived from the signature, so a class declares each one once.
What values each may take is declared too, as data (scikit-learn's ``_parameter_constraints``): one checker
validates every class, accepts NumPy scalars wherever Python numbers are accepted, and words every message
the same way.
"""

from __future__ import annotations

import inspect
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np

from truthguard.errors import InputError, NotFittedError

__all__ = [
    "BOOLEAN",
    "NONE",
    "Configurable",
    "Constraint",
    "InstanceOf",
    "Interval",
    "Options",
    "check_params",
]


class Constraint(ABC):
    """One kind of value a hyper-parameter may take."""

    @abstractmethod
    def accepts(self, value: Any) -> bool:
        """Whether ``value`` satisfies the constraint."""

    @abstractmethod
    def describe(self) -> str:
        """The accepted values in words, e.g. ``"a number in [0, 1)"``."""


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class Interval(Constraint):
    """Integers or real numbers (Python or NumPy, never booleans or NaN) within optional bounds.

    A bound of None is no bound; ``closed`` says which given bounds belong to the interval. Infinite values
    are accepted only where a bound allows them (``Interval("real", 0, math.inf, closed="right")`` is
    ``(0, inf]``); with no bounds a real must be finite.
    """

    kind: Literal["integer", "real"]
    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def accepts(self, value: Any) -> bool:
        if _is_bool(value):
            return False
        if self.kind == "integer":
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real) or math.isnan(float(value)):
            return False
        number = float(value) if self.kind == "real" else int(value)
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if self.kind == "real" and not math.isfinite(number) and number not in (self.low, self.high):
            return False
        left = number >= low if self.closed in ("both", "left") else number > low
        right = number <= high if self.closed in ("both", "right") else number < high
        return left and right

    def describe(self) -> str:
        noun = "an integer" if self.kind == "integer" else "a number"
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.kind == "integer" and self.high is None and self.low is not None:
            first = self.low if low_in else self.low + 1
            return "a positive integer" if first == 1 else f"{noun} >= {_number(first)}"
        if self.low is not None and self.high is not None:
            return (
                f"{noun} in {'[' if low_in else '('}{_number(self.low)}, {_number(self.high)}{']' if high_in else ')'}"
            )
        if self.low is not None:
            return f"{noun} {'>=' if low_in else '>'} {_number(self.low)}"
        if self.high is not None:
            return f"{noun} {'<=' if high_in else '<'} {_number(self.high)}"
        return f"a finite {noun[2:]}" if self.kind == "real" else noun


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{float(value):g}"


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values

    def describe(self) -> str:
        return " or ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class InstanceOf(Constraint):
    """An instance of some type(s), described in words (``"a pandas Series indexed by worker"``)."""

    types: type | tuple[type, ...]
    words: str

    def accepts(self, value: Any) -> bool:
        return isinstance(value, self.types)

    def describe(self) -> str:
        return self.words


@dataclass(frozen=True)
class _Constant(Constraint):
    value: Any
    words: str

    def accepts(self, value: Any) -> bool:
        return value is self.value

    def describe(self) -> str:
        return self.words


class _Boolean(Constraint):
    def accepts(self, value: Any) -> bool:
        return _is_bool(value)

    def describe(self) -> str:
        return "true or false"


#: The value None (an optional parameter left unset).
NONE: Constraint = _Constant(None, "None")
#: ``True`` or ``False`` (Python or NumPy booleans).
BOOLEAN: Constraint = _Boolean()

Constraints = Mapping[str, Sequence[Constraint]]


def check_params(owner: str, params: Mapping[str, Any], constraints: Constraints) -> None:
    """Raise :class:`~truthguard.errors.InputError` for the first parameter no constraint of its accepts.

    Args:
        owner: How messages name the parameters' owner (``"CRH"``, ``"ThreatModel"``).
        params: Parameter values by name (names without constraints are not checked).
        constraints: The accepted kinds of value of each parameter; any one of them suffices.
    """
    for name, allowed in constraints.items():
        value = params[name]
        if any(constraint.accepts(value) for constraint in allowed):
            continue
        if len(allowed) == 1 and isinstance(allowed[0], Options):
            raise InputError(f"unknown {owner} {name} {value!r}; choose one of {', '.join(allowed[0].values)}")
        words = [constraint.describe() for constraint in allowed]
        phrase = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
        raise InputError(f"{owner} {name} must be {phrase}; got {value!r}")


class Configurable:
    """Mixin: ``get_params`` / ``set_params`` / ``clone`` / ``repr`` from the ``__init__`` signature.

    Subclasses declare ``_parameter_constraints`` (parameter name → accepted kinds of value) and may add
    checks across parameters in ``_check_params``; ``_validate_params`` runs both. Reading a fitted attribute
    (a public name ending in ``_``) before it exists raises :class:`~truthguard.errors.NotFittedError`
    naming the method to call first (``_fit_method``).
    """

    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {}
    #: The method that sets the fitted attributes, for the not-fitted message.
    _fit_method: ClassVar[str] = "fit"

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
        """Hyper-parameters as given to ``__init__``; with ``deep``, also those of nested estimators.

        A nested estimator's parameters are named ``<parameter>__<its parameter>`` (scikit-learn's convention),
        e.g. ``base__max_iter`` for a defense wrapping ``base=CRH()``.
        """
        params = {name: getattr(self, name) for name in self._param_names()}
        if deep:
            for name, value in list(params.items()):
                if isinstance(value, Configurable):
                    params.update({f"{name}__{key}": inner for key, inner in value.get_params(deep=True).items()})
        return params

    def set_params(self, **params: Any) -> Self:
        """Set hyper-parameters by name, nested ones as ``<parameter>__<its parameter>``.

        Unknown names raise :class:`~truthguard.errors.InputError` before anything is set.
        """
        self._refuse_unknown(params)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, inner = key.partition("__")
            if inner:
                nested.setdefault(name, {})[inner] = value
            else:
                setattr(self, key, value)
        for name, inner_params in nested.items():
            getattr(self, name).set_params(**inner_params)
        return self

    def _refuse_unknown(self, params: Mapping[str, Any]) -> None:
        valid = self._param_names()
        for key in params:
            name, _, inner = key.partition("__")
            if name not in valid:
                raise InputError(
                    f"{type(self).__name__} has no parameter {name!r}; valid parameters: {', '.join(valid) or 'none'}"
                )
            if inner:
                # The value being set in the same call, if any, is the estimator its nested names refer to.
                owner = params.get(name, getattr(self, name))
                if not isinstance(owner, Configurable):
                    raise InputError(
                        f"{type(self).__name__} parameter {name!r} is not an estimator, so {key!r} names nothing"
                    )
                owner._refuse_unknown({inner: None})

    def clone(self) -> Self:
        """An unfitted copy with the same hyper-parameters; nested estimators are cloned too (never shared)."""
        params = self.get_params(deep=False)
        return type(self)(**{k: v.clone() if isinstance(v, Configurable) else v for k, v in params.items()})

    def _validate_params(self) -> None:
        """Raise :class:`~truthguard.errors.InputError` for an invalid hyper-parameter (called before work)."""
        check_params(type(self).__name__, self.get_params(deep=False), self._parameter_constraints)
        self._check_params()

    def _check_params(self) -> None:
        """Checks that involve several parameters (the declared constraints hold when this runs)."""

    if not TYPE_CHECKING:  # keep mypy's attribute checking: at run time only, say what is missing and why

        def __getattr__(self, name: str) -> Any:
            if name.endswith("_") and not name.startswith("_"):
                raise NotFittedError(
                    f"this {type(self).__name__} has no {name} yet; call {self._fit_method}(...) first"
                )
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        defaults = self.param_defaults()
        shown = [
            f"{k}={v!r}"
            for k, v in self.get_params(deep=False).items()
            if not _same(defaults.get(k, inspect.Parameter.empty), v)
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a is b or a == b)
    except (TypeError, ValueError):
        return False
