r"""Exact gradients through the aggregators with JAX: the same formulas, run on ``jax.numpy``.

Every aggregator's math is written once against an array backend (:mod:`truthguard.core.backend`). Here it
runs on the JAX backend, so ``jax.grad`` differentiates the very computation ``fit`` performs. Iterative
methods are unrolled with ``jax.lax.scan`` and rematerialisation (``jax.checkpoint``), so reverse mode keeps
only the per-iteration truths, not every intermediate array: memory stays O(answers + iterations × tasks).

Warm start: the unrolled iterations start from the previous step's estimates rather than the method's own
initialisation. Unrolling ``T`` steps of the fixed-point map :math:`x \mapsto \Phi(x, \tilde x)` from (near)
its fixed point gives :math:`\partial x_T / \partial \tilde x = \sum_{j<T} (\partial_x \Phi)^j
\partial_{\tilde x} \Phi`, the truncated Neumann series of the implicit derivative of the converged estimate
:math:`(I - \partial_x \Phi)^{-1} \partial_{\tilde x} \Phi`, which is what the attacker needs.

JAX runs in 64-bit mode inside :func:`jax_backend`'s context only, leaving a user's JAX configuration alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from truthguard.aggregators.base import Aggregator, IterativeAggregator
from truthguard.attacks.problem import AttackProblem
from truthguard.core.backend import Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.errors import InputError

__all__ = ["GradientOracle", "jax_backend"]

FloatArray = npt.NDArray[np.float64]

# Compiled objective functions, reused by attacks on the same aggregator and data shape (seeds, restarts,
# repeated experiments): compiling costs about a second, a call on Emotion a few milliseconds.
_COMPILED: dict[tuple[Any, ...], Callable[..., Any]] = {}
_CACHE_SIZE = 16


@contextmanager
def jax_backend() -> Iterator[tuple[ArrayBackend, Any]]:
    """``(backend, jax)`` with 64-bit floats enabled for the duration of the context."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as error:  # pragma: no cover - jax is a dependency
        raise InputError("the optimised attack needs JAX: pip install jax") from error

    def segment_sum(data: Array, segment_ids: Array, num_segments: int) -> Array:
        return jax.ops.segment_sum(data, segment_ids, num_segments=num_segments)

    def segment_argsort(values: Array, segment_ids: Array, num_segments: int) -> Array:
        return jnp.lexsort((values, segment_ids))

    with jax.enable_x64(True):
        yield ArrayBackend("jax", jnp, segment_sum, segment_argsort), jax


class GradientOracle:
    """Value and gradient of the attacker's objective with respect to the known malicious values.

    The objective is the problem's (:meth:`AttackProblem.score`) on the estimate of ``unroll`` iterations of
    the aggregator warm-started at ``start``; :meth:`__call__` also returns that estimate, the next call's
    warm start.
    """

    def __init__(self, problem: AttackProblem, aggregator: Aggregator, unroll: int) -> None:
        if not isinstance(aggregator, Aggregator):
            raise InputError(
                "the optimised attack differentiates TruthGuard aggregators; use the black-box attack for others"
            )
        self.problem = problem
        self.aggregator = aggregator
        self.unroll = unroll if isinstance(aggregator, IterativeAggregator) else 0
        view = problem.view
        self._weights = aggregator._worker_weights(view)
        self._claims = Claims.from_answers(view)
        self._function: Callable[..., Any] | None = None

    def _build(self, be: ArrayBackend, jax: Any) -> Callable[..., Any]:
        xp = be.xp
        problem, aggregator, base = self.problem, self.aggregator, self._claims
        n_tasks, n_workers, unroll = base.n_tasks, base.n_workers, self.unroll
        task_counts, worker_counts = base.task_counts, base.worker_counts
        targeted = problem.threat.goal == "targeted"

        def loop(step: Callable[[Array], Array], state: Array, n: int) -> Array:
            def body(carry: Array, _: Any) -> tuple[Array, None]:
                return step(carry), None

            final, _ = jax.lax.scan(jax.checkpoint(body), state, None, length=n)
            return final

        def objective(malicious: Array, arrays: dict[str, Array]) -> tuple[Array, Array]:
            values = arrays["value"].at[arrays["positions"]].set(malicious)
            # Counts stay NumPy constants: they never depend on the values, and methods may use them eagerly.
            claims = Claims(arrays["task"], arrays["worker"], values, n_tasks, n_workers, task_counts, worker_counts)
            start = arrays["start"] if unroll else None
            estimate = aggregator._unrolled(be, claims, arrays["weights"], start, unroll, loop)
            if targeted:
                aimed = arrays["aimed"]
                score = -xp.sum(xp.where(aimed, xp.abs(estimate - arrays["targets"]), 0.0))
            else:
                score = xp.sum(xp.abs(estimate - arrays["reference"]))
            return score, estimate

        return jax.jit(jax.value_and_grad(objective, has_aux=True))  # type: ignore[no-any-return]

    def _cache_key(self) -> tuple[Any, ...]:
        # Everything the compiled function closes over; arrays passed as arguments only fix shapes.
        claims = self._claims
        params = tuple(sorted((k, repr(v)) for k, v in self.aggregator.get_params().items()))
        return (
            type(self.aggregator),
            params,
            self.unroll,
            self.problem.threat.goal,
            claims.n_tasks,
            claims.n_workers,
            hashlib.sha256(claims.task_counts.tobytes() + claims.worker_counts.tobytes()).hexdigest(),
        )

    def __call__(self, malicious: FloatArray, start: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        """``(objective, gradient, estimate)`` at the known slots' values ``malicious``."""
        with jax_backend() as (be, jax):
            if self._function is None:
                key = self._cache_key()
                if key not in _COMPILED:
                    if len(_COMPILED) >= _CACHE_SIZE:
                        _COMPILED.pop(next(iter(_COMPILED)))
                    _COMPILED[key] = self._build(be, jax)
                self._function = _COMPILED[key]
            xp = be.xp
            problem, claims = self.problem, self._claims
            arrays = {
                "task": xp.asarray(claims.task),
                "worker": xp.asarray(claims.worker),
                "value": xp.asarray(claims.value),
                "positions": xp.asarray(problem.view_positions),
                "weights": xp.asarray(self._weights),
                "start": xp.asarray(start),
                "reference": xp.asarray(problem.reference),
                "targets": xp.asarray(np.nan_to_num(problem.targets)),
                "aimed": xp.asarray(~np.isnan(problem.targets)),
            }
            (score, estimate), gradient = self._function(xp.asarray(malicious), arrays)
            return float(score), np.asarray(gradient, dtype=np.float64), np.asarray(estimate, dtype=np.float64)
