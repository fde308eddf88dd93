r"""The gradient of a function of a fixed point, by implicit differentiation (kept apart from any solver).

Let :math:`x^\star(\theta)` solve :math:`x = \Phi(x, \theta)` (an aggregator's iteration run to convergence,
:math:`\theta` the answer values) and :math:`L(x, \theta)` be a loss of it. By the implicit function theorem,

.. math::
    \nabla_\theta L = \partial_\theta L + (\partial_\theta \Phi)^\top w, \qquad
    w = (I - \partial_x \Phi^\top)^{-1} \partial_x L = \sum_{j \ge 0} (\partial_x \Phi^\top)^j \, \partial_x L,

all Jacobians at :math:`(x^\star, \theta)`. The Neumann series converges when the iteration is a local
contraction (which is why it converged), at the iteration's own linear rate. :func:`fixed_point_gradient`
sums its first ``n_terms + 1`` terms with vector-Jacobian products of one iteration, linearised once: the
cost is one forward and ``n_terms + 1`` backward passes of a single iteration, and the memory one
iteration's intermediates, whatever the number of terms. Differentiating ``n_terms`` unrolled iterations
instead gives the same truncated series at the fixed point, but re-runs every iteration forward and keeps
(or recomputes) each one's intermediates.

The approach is that of jaxopt's ``implicit_diff`` (Blondel et al., "Efficient and Modular Implicit
Differentiation", NeurIPS 2022), with the linear system solved by the Neumann series, as in the
truncated back-propagation analysed by Shaban et al. (AISTATS 2019).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["fixed_point_gradient"]

Array = Any


def fixed_point_gradient(
    step: Callable[[Array, Array], Array],
    loss: Callable[[Array, Array], tuple[Array, Array]],
    fixed_point: Array,
    theta: Array,
    n_terms: int,
) -> tuple[Array, Array, Array]:
    r"""``(loss value, loss auxiliary output, gradient with respect to theta)`` at a fixed point of ``step``.

    Args:
        step: :math:`\Phi(x, \theta)`, one iteration (JAX-traceable).
        loss: :math:`(x, \theta) \mapsto (L, \text{aux})`.
        fixed_point: :math:`x^\star` (or a good approximation of it), computed by the caller's solver.
        theta: The parameters differentiated (any pytree of arrays; integer ones get no gradient).
        n_terms: Neumann terms beyond the first (0: only the direct path through one iteration).
    """
    import jax

    # allow_int: theta may hold integer arrays (a sort order); their cotangents are JAX's empty float0.
    gradient = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True, allow_int=True)
    (value, aux), (grad_x, grad_theta) = gradient(fixed_point, theta)
    _, pullback = jax.vjp(step, fixed_point, theta)

    def term(_: int, carry: tuple[Array, Array]) -> tuple[Array, Array]:
        power, total = carry
        power = pullback(power)[0]
        return power, total + power

    _, adjoint = jax.lax.fori_loop(0, n_terms, term, (grad_x, grad_x))

    def add(direct: Array, through_x: Array) -> Array:
        return direct if direct.dtype == jax.dtypes.float0 else direct + through_x

    return value, aux, jax.tree_util.tree_map(add, grad_theta, pullback(adjoint)[1])
