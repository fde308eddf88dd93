"""Per-answer residual formulas, written once for the vectorised path (NumPy, JAX) and the compiled one."""

from __future__ import annotations

from truthguard.core.backend import Array

__all__ = ["scaled_square"]


def scaled_square(value: Array, center: Array, scale: Array) -> Array:
    """:math:`(x - c)^2 s`: one answer's squared residual, scaled (arrays or numbers; compiled as written)."""
    residual = value - center
    return residual * residual * scale
