"""Formulas written once for the vectorised path (NumPy, JAX: arrays) and the compiled one (numbers).

Each function here is plain arithmetic that runs on arrays and, compiled by numba as written, on numbers, so
the compiled passes of :mod:`truthguard.core.kernels` and the vectorised functions of
:mod:`truthguard.core.segments` share one definition of every per-answer and per-task formula. A choice
between two values is the ``where`` argument: ``xp.where`` on arrays, a compiled ``a if c else b`` on numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from truthguard.core.backend import Array

__all__ = ["scaled_square", "standardized", "weighted_mean_of_sums"]


def scaled_square(value: Array, center: Array, scale: Array) -> Array:
    """:math:`(x - c)^2 s`: one answer's squared residual, scaled (arrays or numbers; compiled as written)."""
    residual = value - center
    return residual * residual * scale


def standardized(value: Array, center: Array, scale: Array) -> Array:
    """:math:`(x - c) / s`: one answer in its task's working scale (GTM's standardisation; arrays or numbers)."""
    return (value - center) / scale


def weighted_mean_of_sums(
    weighted: Array,
    total: Array,
    fallback: Array,
    prior_weight: float,
    prior_value: float,
    where: Callable[[Any, Any, Any], Any],
) -> Array:
    r""":math:`(\lambda \mu_0 + \sum_i w_i x_i) / (\lambda + \sum_i w_i)` from the sums ``weighted``
    (:math:`\sum_i w_i x_i`) and ``total`` (:math:`\sum_i w_i`); ``fallback`` where the denominator is not
    positive (all weights zero), instead of 0/0. See :func:`~truthguard.core.segments.segment_weighted_mean`."""
    numerator = weighted + prior_weight * prior_value
    denominator = total + prior_weight
    positive = denominator > 0
    return where(positive, numerator / where(positive, denominator, 1.0), fallback)
