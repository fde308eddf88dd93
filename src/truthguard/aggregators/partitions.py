"""The iteration of a truth-discovery method over partitioned answers: one driver, wherever the partitions live.

The answers are split into partitions that each hold whole tasks (a worker's answers may span partitions).
Everything per task or per answer — the per-task constants, the truth step, the estimate — is computed inside
its partition; only small summaries (:mod:`truthguard.core.summaries`) cross between them: the moments and
totals the per-fit constants need, the per-worker sums of the weight step, the largest change of the
convergence test. An :class:`Executor` runs a function on every partition and merges what they return:
:data:`IN_PROCESS` holds a single partition (every in-memory fit), :mod:`truthguard.distributed` holds them on a
Dask cluster. :func:`iterate` is the only iteration loop of the library.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from truthguard.core.backend import Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.core.summaries import Largest, Moments, merge

if TYPE_CHECKING:
    from truthguard.aggregators.base import IterativeAggregator

__all__ = [
    "IN_PROCESS",
    "Executor",
    "InProcess",
    "Iterated",
    "Parts",
    "Position",
    "estimate_of",
    "iterate",
    "largest_change",
    "truths_of",
    "value_moments",
]


class Parts(list[Any]):
    """One handle per partition (the value itself in this process, a future on a cluster)."""


class Executor(Protocol):
    """Where the partitions live and how their summaries meet."""

    def map(self, fn: Callable[..., Any], *args: Any) -> Parts:
        """``fn`` called once per partition: a :class:`Parts` argument gives each call its own partition's
        handle, any other argument is passed to every call as it is (broadcast)."""
        ...

    def merged(self, parts: Parts) -> Any:
        """The partitions' summaries merged (:func:`~truthguard.core.summaries.merge`), brought here."""
        ...


class InProcess:
    """The executor of answers held in this process, as a single partition: calls are direct, merging is the
    identity, so the arithmetic is exactly that of a fit written without partitions."""

    def map(self, fn: Callable[..., Any], *args: Any) -> Parts:
        return Parts([fn(*(arg[0] if isinstance(arg, Parts) else arg for arg in args))])

    def merged(self, parts: Parts) -> Any:
        return merge(list(parts))


IN_PROCESS = InProcess()


@dataclass(frozen=True)
class Position:
    """Where one partition's iteration stands: truths (working scale), estimates, the summary of its
    per-worker sums at those truths (what the next weight step needs), and the estimates' last change."""

    truths: Array
    estimate: Array
    sums: Any
    change: float


@dataclass(frozen=True)
class Iterated:
    """Where the iteration stopped: each partition's :class:`Position`, the last weights, and the merged
    per-worker sums at the final truths (the weights there are ``method._weights`` of them)."""

    positions: Parts
    weights: Array
    sums: Any
    n_iter: int
    converged: bool
    history: list[float]


def value_moments(be: ArrayBackend, claims: Claims) -> Moments:
    """The moments of a partition's answer values."""
    return Moments.of(be, claims.value)


def largest_change(new: Array, old: Array) -> float:
    """The largest absolute change between two estimates of the same tasks."""
    return float(np.max(np.abs(np.asarray(new) - np.asarray(old))))


def _start(method: IterativeAggregator, be: ArrayBackend, claims: Claims, prep: Any, start: Array | None) -> Position:
    truths = method._initial_truths(be, claims, prep) if start is None else method._to_working(be, claims, prep, start)
    truths = method._anchored(be, claims, prep, truths)
    estimate = method._output(be, claims, prep, truths)
    return Position(truths, estimate, method._worker_sums(be, claims, prep, truths), math.inf)


def _advance(
    method: IterativeAggregator, be: ArrayBackend, claims: Claims, prep: Any, position: Position, weights: Array
) -> Position:
    truths, sums = method._truths_and_sums(be, claims, prep, weights)
    estimate = method._output(be, claims, prep, truths)
    return Position(truths, estimate, sums, largest_change(estimate, position.estimate))


def _report(position: Position) -> tuple[Any, Largest]:
    return position.sums, Largest(position.change)


def truths_of(position: Position) -> Array:
    return position.truths


def estimate_of(position: Position) -> Array:
    return position.estimate


def iterate(
    method: IterativeAggregator,
    be: ArrayBackend,
    executor: Executor,
    claims: Parts,
    prep: Parts,
    shared: Any,
    start: Parts | None = None,
    callback: Callable[[int], None] | None = None,
) -> Iterated:
    r"""Iterate ``method`` to convergence over partitions (see :class:`~truthguard.aggregators.IterativeAggregator`
    for the two steps and the stopping test). One round per iteration: the weights, from the per-worker sums
    merged here, go to every partition, which takes its truth step and returns its new estimates' change with
    its per-worker sums at the new truths (for the next weight step; a method may compute both in one pass).

    Args:
        method: The iterative aggregator.
        be: Array backend of the partitions' arithmetic.
        executor: Where the partitions live.
        claims: Each partition's claims (worker codes, ``n_workers`` and ``worker_counts`` of the whole).
        prep: Each partition's per-fit constants (``method._prepare_with``).
        shared: The constants shared by every partition (``method._share``).
        start: Each partition's estimates to start from (a warm start), or None for the initial truths.
        callback: Called after each iteration with its number (progress bars).
    """
    moments: Moments = executor.merged(executor.map(value_moments, be, claims))
    threshold = float(method.tol) * float(moments.std(be))
    positions = executor.map(_start, method, be, claims, prep, start)
    sums, _ = executor.merged(executor.map(_report, positions))
    history: list[float] = []
    weights: Array = None
    converged = False
    for _ in range(int(method.max_iter)):
        step = method._weights(be, shared, sums)
        weights = step.weights
        positions = executor.map(_advance, method, be, claims, prep, positions, weights)
        sums, change = executor.merged(executor.map(_report, positions))
        history.append(float(step.objective))
        if callback is not None:
            callback(len(history))
        if change.value <= threshold:
            converged = True
            break
    return Iterated(positions, weights, sums, len(history), converged, history)
