"""Summaries of answers that merge across partitions: what a fit over partitioned answers sends between them.

A method fitted over partitions (each holding whole tasks; workers span them) computes everything per task
inside its partition, and sends between partitions only small *summaries*: per-worker sums, totals and the
:class:`Moments` of some values. :func:`merge` combines the summaries of all partitions into the summary of
the whole; the summary of a single partition is returned as it is, so a fit in one piece does exactly the
arithmetic it did before partitions existed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from truthguard.core.backend import NUMPY, Array, ArrayBackend

__all__ = ["CHUNK", "Largest", "Moments", "merge"]

#: Values per chunk of :meth:`Moments.of` on long NumPy arrays (8 MiB of float64).
CHUNK = 1 << 20


@dataclass(frozen=True)
class Moments:
    r"""Count :math:`n`, mean :math:`\bar x` and sum of squared deviations :math:`M_2` of some values.

    Merged exactly (up to rounding) across partitions by Chan, Golub & LeVeque's pairwise update
    ("Algorithms for computing the sample variance", 1983):
    :math:`\delta = \bar x_b - \bar x_a`, :math:`\bar x = \bar x_a + \delta n_b / n`,
    :math:`M_2 = M_{2,a} + M_{2,b} + \delta^2 n_a n_b / n`.
    """

    count: Array
    mean: Array
    m2: Array

    @classmethod
    def of(cls, be: ArrayBackend, values: Array) -> Moments:
        """The moments of ``values``, two-pass: one correction pass makes the mean of equal values exactly
        their value (sum / count is not), so their :math:`M_2` is exactly 0 rather than rounding noise.

        NumPy arrays longer than :data:`CHUNK` are taken a chunk at a time and the chunks' moments merged, as
        partitions' are: the temporaries stay a few MiB however many answers there are."""
        if be is NUMPY and values.shape[0] > CHUNK:
            chunks: Moments = merge([cls.of(be, values[i : i + CHUNK]) for i in range(0, values.shape[0], CHUNK)])
            return chunks
        xp = be.xp
        count = float(values.shape[0])
        mean = xp.sum(values) / count
        mean = mean + xp.sum(values - mean) / count
        residual = values - mean
        return cls(count=count, mean=mean, m2=xp.sum(residual * residual))

    def std(self, be: ArrayBackend) -> Array:
        """Standard deviation (ddof = 0); 1.0 when all values are equal (see
        :func:`~truthguard.core.segments.overall_std`)."""
        xp = be.xp
        variance = self.m2 / self.count
        spread = variance > 0
        return xp.where(spread, xp.sqrt(xp.where(spread, variance, 1.0)), 1.0)

    def combine(self, other: Moments) -> Moments:
        count = self.count + other.count
        delta = other.mean - self.mean
        return Moments(
            count=count,
            mean=self.mean + delta * (other.count / count),
            m2=self.m2 + other.m2 + delta * delta * (self.count * other.count / count),
        )


@dataclass(frozen=True)
class Largest:
    """The largest of some numbers (e.g. of the partitions' changes), merged by taking the largest."""

    value: float


def merge(parts: Sequence[Any]) -> Any:
    """The summary of the union of partitions from theirs: numbers and arrays (per-worker sums, totals) add,
    :class:`Moments` combine, :class:`Largest` keeps the largest, tuples, lists, dicts and dataclasses merge
    field by field, None stays None. One summary is returned unchanged."""
    if not parts:
        raise ValueError("merge needs at least one summary")
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if first is None:
        return None
    if isinstance(first, Largest):
        return Largest(max(part.value for part in parts))
    if isinstance(first, Moments):
        total = first
        for part in parts[1:]:
            total = total.combine(part)
        return total
    if isinstance(first, tuple | list):
        return type(first)(merge([part[i] for part in parts]) for i in range(len(first)))
    if isinstance(first, dict):
        return {key: merge([part[key] for part in parts]) for key in first}
    if dataclasses.is_dataclass(first) and not isinstance(first, type):
        fields = {f.name: merge([getattr(part, f.name) for part in parts]) for f in dataclasses.fields(first)}
        return dataclasses.replace(first, **fields)
    total = first
    for part in parts[1:]:
        total = total + part
    return total
