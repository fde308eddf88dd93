"""Common checks every aggregator must pass: ``check_aggregator(estimator)``, as scikit-learn's
``check_estimator``.

A new aggregator or defense gets them for free: the estimator protocol (parameters, ``fit`` returning
``self``, named outputs), the properties that follow from being an estimator of a set of answers (row order
irrelevant, bit for bit; deterministic; each estimate within its task's answers; unanimous tasks kept; shifting
every answer shifts every estimate) and, for a class that says it is ``differentiable``, its gradient through
the converged estimate against finite differences of ``fit``.

Each check raises ``AssertionError`` naming the estimator and what failed. The data are small fixed tables
(no hypothesis, no network), so the whole run takes about a second (plus JAX's compilation when gradients
are checked).

Examples:
    >>> from truthguard.aggregators import CRH
    >>> from truthguard.testing import check_aggregator
    >>> check_aggregator(CRH(), gradients=False)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from truthguard.aggregators.base import Aggregator
from truthguard.core.answers import Answers
from truthguard.core.params import Configurable

__all__ = ["CHECKS", "central_differences", "check_aggregator"]


def _table(
    seed: int, n_tasks: int = 12, n_workers: int = 7, dyadic: bool = False, unanimous: bool = True
) -> pd.DataFrame:
    """A sparse table: every task answered by 3-7 workers of differing noise; task ``t00`` unanimous."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(-10, 10, n_tasks)
    noise = rng.uniform(0.2, 3.0, n_workers)
    rows = []
    for task in range(n_tasks):
        workers = rng.choice(n_workers, size=int(rng.integers(3, n_workers + 1)), replace=False)
        for worker in sorted(workers):
            value = truth[task] + (0.0 if task == 0 and unanimous else rng.normal(0, noise[worker]))
            rows.append((f"t{task:02d}", f"w{worker}", value))
    frame = pd.DataFrame(rows, columns=["task", "worker", "value"])
    if dyadic:  # multiples of 1/64: shifting them by a dyadic number is exact
        frame["value"] = np.round(frame["value"] * 64) / 64
    return frame


def _fitted(estimator: Aggregator, frame: pd.DataFrame) -> Aggregator:
    return estimator.clone().fit(frame)


def check_params(estimator: Aggregator) -> None:
    """``get_params``/``set_params`` round-trip, ``clone`` copies (nested estimators too), ``repr`` works."""
    name = type(estimator).__name__
    params = estimator.get_params(deep=False)
    copy = estimator.clone()
    assert type(copy) is type(estimator), f"{name}.clone() returned a {type(copy).__name__}"
    for key, value in params.items():
        other = getattr(copy, key)
        if isinstance(value, Configurable):  # a nested estimator or detector: copied, never shared
            assert other is not value, f"{name}.clone() shares its nested estimator {key!r}"
            assert repr(other.get_params()) == repr(value.get_params()), f"{name}.clone() changed {key!r}"
        else:
            assert other is value or _equal(other, value), f"{name}.clone() changed {key!r}"
    assert copy.set_params(**params) is copy, f"{name}.set_params must return the estimator"
    assert repr(estimator).startswith(name), f"repr({name}) should start with its class name"


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def check_fit_protocol(estimator: Aggregator) -> None:
    """``fit`` returns ``self``; ``truths_`` and ``weights_`` are finite Series named ``value`` and ``weight``,
    indexed by every task and every worker."""
    name = type(estimator).__name__
    frame = _table(0)
    model = estimator.clone()
    assert model.fit(frame) is model, f"{name}.fit must return self"
    truths, weights = model.truths_, model.weights_
    assert isinstance(truths, pd.Series) and truths.name == "value", f"{name}.truths_ must be a Series named 'value'"
    assert truths.index.name == "task", f"{name}.truths_ must be indexed by 'task'"
    assert sorted(truths.index) == sorted(frame["task"].unique()), f"{name}.truths_ must cover every task"
    assert isinstance(weights, pd.Series) and weights.name == "weight", f"{name}.weights_ must be a Series 'weight'"
    assert weights.index.name == "worker", f"{name}.weights_ must be indexed by 'worker'"
    assert sorted(weights.index) == sorted(frame["worker"].unique()), f"{name}.weights_ must cover every worker"
    assert np.all(np.isfinite(truths.to_numpy())), f"{name} gave a non-finite estimate"
    assert np.all(np.isfinite(weights.to_numpy())), f"{name} gave a non-finite weight"
    pd.testing.assert_series_equal(model.fit_predict(frame), truths, obj=f"{name}.fit_predict")


def check_row_order(estimator: Aggregator) -> None:
    """Answers are a set: shuffling the rows gives bit-identical estimates and weights."""
    frame = _table(1)
    shuffled = frame.sample(frac=1.0, random_state=np.random.default_rng(0)).reset_index(drop=True)
    a, b = _fitted(estimator, frame), _fitted(estimator, shuffled)
    pd.testing.assert_series_equal(a.truths_, b.truths_, check_exact=True, obj=f"{type(estimator).__name__} truths_")
    pd.testing.assert_series_equal(a.weights_, b.weights_, check_exact=True, obj=f"{type(estimator).__name__} weights_")


def check_deterministic(estimator: Aggregator) -> None:
    """Two fits of clones on the same answers give the same bytes (seeded randomness, no hidden state)."""
    frame = _table(2)
    a, b = _fitted(estimator, frame), _fitted(estimator, frame)
    assert a.truths_.to_numpy().tobytes() == b.truths_.to_numpy().tobytes(), (
        f"{type(estimator).__name__} gave different estimates on two fits of the same answers"
    )


def check_within_range(estimator: Aggregator) -> None:
    """Each estimate lies within its task's answers, and a unanimous task keeps the common value."""
    name = type(estimator).__name__
    frame = _table(3)
    truths = _fitted(estimator, frame).truths_
    grouped = frame.groupby("task")["value"]
    slack = 1e-12 * float(frame["value"].abs().max())
    low, high = grouped.min().reindex(truths.index), grouped.max().reindex(truths.index)
    assert np.all(truths >= low - slack) and np.all(truths <= high + slack), f"{name} left its tasks' answers"
    unanimous = frame.loc[frame["task"] == "t00", "value"].iloc[0]
    assert abs(truths["t00"] - unanimous) <= slack, f"{name} moved a unanimous task ({truths['t00']} != {unanimous})"


def check_translation(estimator: Aggregator) -> None:
    """A location estimator: adding c to every answer adds c to every estimate (exact dyadic data)."""
    frame = _table(4, dyadic=True)
    shift = 1234.5
    a, b = _fitted(estimator, frame), _fitted(estimator, frame.assign(value=frame["value"] + shift))
    np.testing.assert_allclose(
        b.truths_.to_numpy(),
        a.truths_.to_numpy() + shift,
        rtol=0,
        atol=1e-6 * (1 + shift),
        err_msg=f"{type(estimator).__name__} is not translation-equivariant",
    )


def check_gradient(estimator: Aggregator) -> None:
    """For a ``differentiable`` class: the gradient of a random linear functional of the converged estimate
    with respect to every answer equals central finite differences of ``fit``."""
    if not estimator.differentiable:
        return
    from truthguard.aggregators.differentiable import DifferentiableFit

    name = type(estimator).__name__
    exact = estimator.clone()
    # Converged to rounding (a nested base method's settings too), so finite differences see the fixed point.
    settings = {"tol": 0.0, "max_iter": 400}
    exact.set_params(
        **{k: settings[k.rsplit("__", 1)[-1]] for k in exact.get_params() if k.rsplit("__", 1)[-1] in settings}
    )
    # No unanimous task: GTM standardises by each task's spread, ill-conditioned for finite differences there.
    answers = Answers.coerce(_table(5, unanimous=False))
    # Generic values: no ties within a task (a median has a kink there).
    answers = answers.with_values(answers.value + np.random.default_rng(1).uniform(-1e-3, 1e-3, answers.n_answers))
    mix = np.random.default_rng(2).normal(size=answers.n_tasks)
    start = exact.clone().fit(answers).truths_.to_numpy()
    positions = np.arange(answers.n_answers)
    fit = DifferentiableFit(exact, answers, positions, _linear, unroll=300, purpose="check_gradient")
    _, gradient, _ = fit(answers.value, start, {"mix": mix})

    def value(values: np.ndarray[Any, Any]) -> float:
        return float(mix @ exact.clone().fit(answers.with_values(values)).truths_.to_numpy())

    numeric = central_differences(value, answers.value, 1e-5)
    assert np.abs(numeric).max() > 1e-3, f"{name}'s estimate does not depend on the answers"
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-5, err_msg=f"{name}'s gradient is wrong")


def central_differences(
    function: Callable[[np.ndarray[Any, Any]], float], point: np.ndarray[Any, Any], step: float
) -> np.ndarray[Any, Any]:
    """The gradient of ``function`` at ``point`` by central differences, one coordinate at a time."""
    numeric = np.empty(point.size)
    for i in range(point.size):
        up, down = point.copy(), point.copy()
        up[i] += step
        down[i] -= step
        numeric[i] = (function(up) - function(down)) / (2 * step)
    return numeric


def _linear(xp: Any, estimate: Any, arrays: dict[str, Any]) -> Any:
    return xp.sum(arrays["mix"] * estimate)


#: Every check, by name, in the order :func:`check_aggregator` runs them.
CHECKS: dict[str, Callable[[Aggregator], None]] = {
    "params": check_params,
    "fit_protocol": check_fit_protocol,
    "row_order": check_row_order,
    "deterministic": check_deterministic,
    "within_range": check_within_range,
    "translation": check_translation,
    "gradient": check_gradient,
}


def check_aggregator(estimator: Aggregator, *, gradients: bool = True) -> None:
    """Run every common check (:data:`CHECKS`) on ``estimator``; ``gradients=False`` skips the gradient check.

    Raises:
        AssertionError: A check failed; the message names the estimator and the property.
    """
    assert isinstance(estimator, Aggregator), f"check_aggregator needs an Aggregator; got {type(estimator).__name__}"
    for name, check in CHECKS.items():
        if name == "gradient" and not gradients:
            continue
        check(estimator)
