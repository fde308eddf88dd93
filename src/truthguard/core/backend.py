"""Array backends: the few primitives the aggregators' math needs beyond an array namespace.

Every aggregator's formulas are written once, against an :class:`ArrayBackend` ``be``: ``be.xp`` is an array
namespace (``numpy`` here; ``jax.numpy`` for differentiation) and ``be.segment_sum`` sums the flat per-answer
arrays into per-task or per-worker totals. That is what keeps every method O(number of answers) per
iteration: no per-task Python loop, no dense task × worker matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NUMPY", "Array", "ArrayBackend"]

#: Arrays of any backend (NumPy ``ndarray`` or a JAX array); the math never relies on more than the namespace.
Array = Any


def _numpy_segment_sum(data: Array, segment_ids: Array, num_segments: int) -> Array:
    # bincount is NumPy's fastest scatter-add (about 2x faster than np.add.at) and always returns float64.
    return np.bincount(segment_ids, weights=data, minlength=num_segments)


@dataclass(frozen=True)
class ArrayBackend:
    """An array namespace plus a segment-sum primitive.

    Attributes:
        name: Short name, for messages.
        xp: The array namespace (``numpy`` or ``jax.numpy``).
        segment_sum: ``segment_sum(data, segment_ids, num_segments)`` returns ``out`` with
            ``out[s] = sum(data[segment_ids == s])`` for ``s < num_segments``.
    """

    name: str
    xp: Any
    segment_sum: Callable[[Array, Array, int], Array]


NUMPY = ArrayBackend("numpy", np, _numpy_segment_sum)
