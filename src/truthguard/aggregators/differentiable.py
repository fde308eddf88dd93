r"""Exact gradients through the aggregators with JAX: the same formulas, run on ``jax.numpy``.

Every aggregator's math is written once against an array backend (:mod:`truthguard.core.backend`). Here it
runs on the JAX backend, so JAX differentiates the very computation ``fit`` performs. One entry serves every
user (the optimised attack's objective, a defense's influence of a worker): :class:`DifferentiableFit`, the
value and gradient of any objective of the converged estimate with respect to chosen answers' values.

Iterative methods: what matters is the derivative of the *converged* estimate. From a warm start (e.g. the
previous ascent step's estimate), ``unroll`` iterations bring the estimate to the new values' fixed point
(forward only, nothing stored), and :func:`~truthguard.aggregators.implicit.fixed_point_gradient`
differentiates the fixed point implicitly: ``unroll`` Neumann terms of the adjoint system, each one backward
pass of a single iteration. Memory is one iteration's intermediates, not one per unrolled iteration.

JAX runs in 64-bit mode inside :func:`jax_backend`'s context only, leaving a user's JAX configuration alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from truthguard.aggregators.base import Aggregator, IterativeAggregator
from truthguard.aggregators.implicit import fixed_point_gradient
from truthguard.core.answers import Answers
from truthguard.core.backend import NUMPY, Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.core.segments import segment_order
from truthguard.errors import InputError

__all__ = ["DifferentiableFit", "Objective", "jax_backend", "require_differentiable"]

#: ``objective(xp, estimate, arrays) -> scalar``: a function of the estimate per task and of named arrays
#: passed at each call. It must be a stable object (a module-level function): compiled code is cached by it.
Objective = Callable[[Any, Array, dict[str, Array]], Array]

FloatArray = npt.NDArray[np.float64]

# Compiled objective functions, reused by attacks on the same aggregator and data shape (seeds, restarts,
# repeated experiments): compiling costs about a second, a call on Emotion a few milliseconds.
_COMPILED: dict[tuple[Any, ...], tuple[Callable[..., Any], list[bool]]] = {}
_CACHE_SIZE = 16


@contextmanager
def jax_backend() -> Iterator[tuple[ArrayBackend, Any]]:
    """``(backend, jax)`` with 64-bit floats enabled for the duration of the context."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as error:  # pragma: no cover - jax is a dependency
        raise InputError("gradients through the aggregators need JAX: pip install jax") from error

    def segment_sum(data: Array, segment_ids: Array, num_segments: int) -> Array:
        return jax.ops.segment_sum(data, segment_ids, num_segments=num_segments)

    def segment_argsort(values: Array, segment_ids: Array, num_segments: int) -> Array:
        # Correct but slow (11 million answers: about 6 s against 0.6 s for NumPy's segmented sort): the answer
        # values' order comes from the host instead (Claims.order, set by DifferentiableFit), so this serves
        # only sorts of other arrays. A host callback here once gave wrong orders under XLA's concurrent
        # execution (inputs not yet written), so the sort stays inside XLA.
        return jnp.lexsort((jax.lax.stop_gradient(values), segment_ids))

    with jax.enable_x64(True):
        yield ArrayBackend("jax", jnp, segment_sum, segment_argsort), jax


def _fields(prep: Any) -> Any:
    """An aggregator's per-fit constants as a pytree JAX can differentiate: dataclasses (nested ones too, such
    as a defense's constants holding its base method's) become dicts of their fields."""
    if dataclasses.is_dataclass(prep) and not isinstance(prep, type):
        return {field.name: _fields(getattr(prep, field.name)) for field in dataclasses.fields(prep)}
    return prep


def _rebuilder(example: Any) -> Callable[[Any], Any]:
    """The inverse of :func:`_fields` for constants shaped like ``example``."""
    if dataclasses.is_dataclass(example) and not isinstance(example, type):
        kind = type(example)
        inner = {field.name: _rebuilder(getattr(example, field.name)) for field in dataclasses.fields(example)}
        return lambda fields: kind(**{name: rebuild(fields[name]) for name, rebuild in inner.items()})
    return lambda fields: fields


@dataclasses.dataclass(frozen=True)
class _RecordingClaims(Claims):
    """Claims that note in ``reads`` whether the answers' order was read (during tracing)."""

    reads: list[bool] = dataclasses.field(default_factory=list)

    def value_order(self, be: ArrayBackend) -> Array:
        self.reads.append(True)
        return super().value_order(be)


def require_differentiable(aggregator: Any, purpose: str) -> None:
    """Raise :class:`~truthguard.errors.InputError` unless ``aggregator`` can be differentiated (a TruthGuard
    aggregator whose class says ``differentiable = True``); ``purpose`` says what needed it, for the message."""
    if isinstance(aggregator, Aggregator) and aggregator.differentiable:
        return
    name = type(aggregator).__name__
    why = "is not a TruthGuard aggregator" if not isinstance(aggregator, Aggregator) else "is not differentiable"
    raise InputError(f"{purpose} needs gradients through the aggregator, and {name} {why}; use the black-box attack")


class DifferentiableFit:
    r"""Value and gradient of ``objective`` of an aggregator's converged estimate on ``answers``, with respect
    to the values of the answers at ``positions``.

    Iterative aggregators run ``unroll`` iterations warm-started at a given estimate and are differentiated
    there as a fixed point (``unroll`` Neumann terms, :func:`~truthguard.aggregators.implicit.fixed_point_gradient`);
    the per-fit constants (GTM's per-task medians and spreads) are linearised once per call and enter the
    fixed point as parameters beside the values. One-shot aggregators are differentiated directly.

    Compiled functions are cached across instances with the same aggregator, objective and data shape
    (seeds, restarts, repeated experiments): compiling costs about a second, a call on Emotion milliseconds.

    Args:
        aggregator: A differentiable TruthGuard aggregator (``aggregator.differentiable``).
        answers: The answers; those at ``positions`` are the variables.
        positions: Indices into ``answers``' arrays of the answers differentiated.
        objective: The function of the estimate differentiated (:data:`Objective`).
        unroll: Warm-started iterations and Neumann terms (iterative aggregators).
        purpose: What needs the gradient, for the error message when the aggregator is not differentiable.
    """

    def __init__(
        self,
        aggregator: Aggregator,
        answers: Answers,
        positions: npt.NDArray[np.int64],
        objective: Objective,
        unroll: int,
        purpose: str = "this",
    ) -> None:
        require_differentiable(aggregator, purpose)
        self.aggregator = aggregator
        self.objective = objective
        self.unroll = unroll if isinstance(aggregator, IterativeAggregator) else 0
        self.positions = positions
        self._weights = aggregator._worker_weights(answers)
        self._claims = Claims.from_answers(answers)
        self._function: Callable[..., Any] | None = None
        # Whether the method reads the answers' order (a sort on the host per call, about a second at 11M
        # answers): found by tracing once; methods that never sort (CRH's squared loss) skip it.
        self._order_reads: list[bool] = []
        self._needs_order: bool | None = None
        self._constants: dict[str, Any] | None = None

    def _build(self, be: ArrayBackend, jax: Any) -> Callable[..., Any]:
        aggregator, base, objective = self.aggregator, self._claims, self.objective
        n_tasks, n_workers, unroll = base.n_tasks, base.n_workers, self.unroll
        # Counts stay NumPy constants: they never depend on the values, and methods may use them eagerly.
        task_counts, worker_counts = base.task_counts, base.worker_counts
        xp = be.xp

        reads = self._order_reads

        def run(variables: Array, arrays: dict[str, Array]) -> tuple[Array, Array, Array]:
            def claims(values: Array) -> Claims:
                return _RecordingClaims(
                    arrays["task"],
                    arrays["worker"],
                    values,
                    n_tasks,
                    n_workers,
                    task_counts,
                    worker_counts,
                    arrays["order"],
                    reads=reads,
                )

            def score(estimate: Array) -> Array:
                return objective(xp, estimate, arrays["objective"])

            values = arrays["value"].at[arrays["positions"]].set(variables)
            if not isinstance(aggregator, IterativeAggregator):

                def direct(values: Array) -> tuple[Array, Array]:
                    estimate = aggregator._estimate(be, claims(values), arrays["weights"])
                    return score(estimate), estimate

                (value, estimate), gradient = jax.value_and_grad(direct, has_aux=True)(values)
                return value, gradient[arrays["positions"]], estimate

            examples: list[Any] = []

            def prepare(values: Array) -> Any:
                prep = aggregator._prepare(be, claims(values))
                examples.append(prep)
                return _fields(prep)

            fields, prep_pullback = jax.vjp(prepare, values)
            rebuild = _rebuilder(examples[0])

            def step(truths: Array, theta: tuple[Array, Any]) -> Array:
                return aggregator._iterate(be, claims(theta[0]), rebuild(theta[1]), truths)[0]

            def loss(truths: Array, theta: tuple[Array, Any]) -> tuple[Array, Array]:
                estimate = aggregator._output(be, claims(theta[0]), rebuild(theta[1]), truths)
                return score(estimate), estimate

            current, prep = claims(values), rebuild(fields)
            truths = jax.lax.fori_loop(
                0,
                unroll,
                lambda _, truths: aggregator._iterate(be, current, prep, truths)[0],
                aggregator._to_working(be, current, prep, arrays["start"]),
            )
            value, estimate, (gradient, prep_gradient) = fixed_point_gradient(
                step, loss, jax.lax.stop_gradient(truths), (values, fields), unroll
            )
            gradient = gradient + prep_pullback(prep_gradient)[0]
            return value, gradient[arrays["positions"]], estimate

        return jax.jit(run)  # type: ignore[no-any-return]

    def _order(self, variables: FloatArray) -> npt.NDArray[np.int64]:
        """The answers' order by task, then value, with the variables in place (NumPy's segmented sort)."""
        claims = self._claims
        values = claims.value.copy()
        values[self.positions] = variables
        return np.asarray(segment_order(NUMPY, values, claims.task, claims.n_tasks), dtype=np.int64)

    def _cache_key(self) -> tuple[Any, ...]:
        # Everything the compiled function closes over; arrays passed as arguments only fix shapes.
        claims = self._claims
        params = tuple(sorted((k, repr(v)) for k, v in self.aggregator.get_params().items()))
        return (
            type(self.aggregator),
            params,
            self.unroll,
            self.objective,
            claims.n_tasks,
            claims.n_workers,
            hashlib.sha256(claims.task_counts.tobytes() + claims.worker_counts.tobytes()).hexdigest(),
        )

    def __call__(
        self, variables: FloatArray, start: FloatArray, arrays: dict[str, Any]
    ) -> tuple[float, FloatArray, FloatArray]:
        """``(objective, gradient, estimate)`` with the answers at ``positions`` set to ``variables``, warm-started
        at the estimate ``start`` (per task); ``arrays`` are the objective's named arrays."""
        with jax_backend() as (be, jax):
            if self._function is None:
                key = self._cache_key()
                if key not in _COMPILED:
                    if len(_COMPILED) >= _CACHE_SIZE:
                        _COMPILED.pop(next(iter(_COMPILED)))
                    _COMPILED[key] = (self._build(be, jax), self._order_reads)
                self._function, self._order_reads = _COMPILED[key]
            if self._needs_order is None:
                shapes = jax.tree_util.tree_map(
                    lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype),
                    self._inputs(be, variables, start, arrays, False),
                )
                # The order's real shape, without sorting for it: tracing only records whether it is read.
                shapes[1]["order"] = jax.ShapeDtypeStruct(self._claims.value.shape, np.int64)
                jax.eval_shape(self._function, *shapes)
                self._needs_order = bool(self._order_reads)
            score, gradient, estimate = self._function(*self._inputs(be, variables, start, arrays, self._needs_order))
            return float(score), np.asarray(gradient, dtype=np.float64), np.asarray(estimate, dtype=np.float64)

    def _inputs(
        self, be: ArrayBackend, variables: FloatArray, start: FloatArray, arrays: dict[str, Any], order: bool = True
    ) -> tuple[Array, dict[str, Any]]:
        """The compiled function's arguments (inside :func:`jax_backend`'s context); without ``order``, an empty
        placeholder for the answers' order (for methods that never read it)."""
        xp = be.xp
        if self._constants is None:
            # Moved to JAX once per instance (at scale each is tens of MB); float64 needs the x64 context.
            claims = self._claims
            self._constants = {
                "task": xp.asarray(claims.task),
                "worker": xp.asarray(claims.worker),
                "value": xp.asarray(claims.value),
                "positions": xp.asarray(self.positions),
                "weights": xp.asarray(self._weights),
            }
        given = {name: xp.asarray(value) for name, value in arrays.items()}
        sorted_answers = self._order(variables) if order else np.zeros(0, dtype=np.int64)
        extra = {"start": xp.asarray(start), "objective": given, "order": xp.asarray(sorted_answers)}
        return xp.asarray(variables), self._constants | extra
