"""Hyper-parameter declarations: every parameter constrained, NumPy scalars accepted, clear not-fitted errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from truthguard import InputError
from truthguard.aggregators import AGGREGATORS, CRH, GTM, Mean
from truthguard.attacks import ATTACKS, OptimizedAttack, ThreatModel
from truthguard.core.params import NONE, Interval, Options, check_params
from truthguard.datasets import make_synthetic
from truthguard.errors import NotFittedError

CLASSES = [*AGGREGATORS.values(), *ATTACKS.values()]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_parameter_is_constrained(cls: type) -> None:
    assert set(cls._parameter_constraints) == set(cls._param_names())


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_defaults_are_valid(cls: type) -> None:
    cls()._validate_params()


def _numpy_twin(value: Any) -> Any:
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, float) and math.isfinite(value):
        return np.float32(value) if np.float32(value) == value else np.float64(value)
    return value


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_numpy_scalars_are_accepted_wherever_python_numbers_are(cls: type) -> None:
    """``CRH(tol=np.float32(1e-6))`` was refused: NumPy scalars are numbers too."""
    twins = {k: _numpy_twin(v) for k, v in cls.param_defaults().items()}
    cls(**twins)._validate_params()


def test_numpy_scalars_fit_like_python_numbers(toy_answers: pd.DataFrame) -> None:
    plain = CRH(tol=1e-6, max_iter=50).fit(toy_answers)
    numpy = CRH(tol=np.float32(1e-6), max_iter=np.int32(50)).fit(toy_answers)
    pd.testing.assert_series_equal(plain.truths_, numpy.truths_, rtol=1e-9)
    ThreatModel(fraction=np.float32(0.25), known_fraction=np.float64(0.5), tasks_per_worker=np.int64(2))
    make_synthetic(n_tasks=np.int64(5), n_workers=np.int32(3), density=np.float32(0.5), seed=np.uint8(1))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, r"CRH tol must be a number >= 0; got True"),
        (np.bool_(True), r"CRH tol must be a number >= 0"),
        (float("nan"), r"CRH tol must be a number >= 0; got nan"),
        ("1e-6", r"CRH tol must be a number >= 0; got '1e-6'"),
        (-1, r"CRH tol must be a number >= 0; got -1"),
    ],
)
def test_booleans_nan_and_text_are_not_numbers(value: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        CRH(tol=value)._validate_params()


def test_integer_parameters_refuse_integral_floats() -> None:
    with pytest.raises(InputError, match=r"CRH max_iter must be a positive integer; got 5\.0"):
        CRH(max_iter=5.0)._validate_params()  # type: ignore[arg-type]


def test_infinity_only_where_a_bound_allows_it() -> None:
    GTM(sigma0=math.inf)._validate_params()  # a flat prior
    with pytest.raises(InputError, match=r"GTM mu0 must be a finite number; got inf"):
        GTM(mu0=math.inf)._validate_params()
    with pytest.raises(InputError, match=r"GTM beta must be a number >= 0; got inf"):
        GTM(beta=math.inf)._validate_params()


def test_check_params_words() -> None:
    constraints = {
        "a": [Interval("integer", 1, None), Options(("mean",)), NONE],
        "b": [Options(("x", "y"))],
        "c": [Interval("real", 0, 0.5, "left")],
        "d": [Interval("real", -1, None, "neither")],
    }
    good = {"a": None, "b": "x", "c": 0.0, "d": -0.5}
    check_params("Thing", good, constraints)
    cases = [
        ({"a": 0}, r"^Thing a must be a positive integer, 'mean' or None; got 0$"),
        ({"b": "z"}, r"^unknown Thing b 'z'; choose one of x, y$"),
        ({"c": 0.5}, r"^Thing c must be a number in \[0, 0\.5\); got 0\.5$"),
        ({"d": -1}, r"^Thing d must be a number > -1; got -1$"),
    ]
    for change, message in cases:
        with pytest.raises(InputError, match=message):
            check_params("Thing", {**good, **change}, constraints)


@pytest.mark.parametrize("cls", list(AGGREGATORS.values()), ids=lambda c: c.__name__)
def test_fitted_attributes_before_fit(cls: type) -> None:
    """``CRH().truths_`` before ``fit`` says what to do, like scikit-learn's NotFittedError."""
    model = cls()
    for name in ("truths_", "weights_", "n_iter_", "converged_", "objective_history_"):
        with pytest.raises(NotFittedError, match=rf"this {cls.__name__} has no {name} yet; call fit\(\.\.\.\) first"):
            getattr(model, name)
        assert not hasattr(model, name)  # NotFittedError is an AttributeError: hasattr stays usable
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'") as error:
        model.no_such_thing  # noqa: B018
    assert not isinstance(error.value, NotFittedError)


def test_attack_results_before_poison() -> None:
    with pytest.raises(
        NotFittedError, match=r"this OptimizedAttack has no objective_ yet; call poison\(\.\.\.\) first"
    ):
        OptimizedAttack().objective_  # noqa: B018


def test_fitted_estimator_copies_and_pickles(toy_answers: pd.DataFrame) -> None:
    import copy
    import pickle

    model = Mean().fit(toy_answers)
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        pd.testing.assert_series_equal(twin.truths_, model.truths_)
    unfitted = pickle.loads(pickle.dumps(CRH(tol=1e-3)))
    assert unfitted.tol == 1e-3
    assert not hasattr(unfitted, "truths_")


@pytest.mark.parametrize(
    ("kwargs", "n_honest", "message"),
    [
        ({"fraction": 0.995}, 38, r"ThreatModel fraction must be a number in \[0, 0\.99\]; got 0\.995"),
        (
            {"n_malicious": 1_000_000},
            38,
            r"n_malicious=1000000 exceeds 99% of all workers with 38 honest ones; give at most 3762",
        ),
    ],
)
def test_malicious_workers_at_most_99_per_honest_one(kwargs: dict[str, Any], n_honest: int, message: str) -> None:
    """``--n-malicious 1000000`` against Emotion's 38 workers ran for minutes without a sign of life."""
    with pytest.raises(InputError, match=message):
        ThreatModel(**kwargs).n_malicious_for(n_honest)
    assert ThreatModel(fraction=0.99).n_malicious_for(n_honest) == 3762
    assert ThreatModel(n_malicious=3762).n_malicious_for(n_honest) == 3762


class _Wrapper(Mean):
    """A minimal estimator holding another, as every defense does (``base=CRH()``)."""

    _parameter_constraints = {"base": [Interval("integer")], "scale": [Interval("real")]}  # noqa: RUF012

    def __init__(self, base: Any = None, scale: float = 1.0) -> None:
        self.base = CRH() if base is None else base
        self.scale = scale


def test_nested_parameters_the_scikit_learn_way() -> None:
    """``get_params(deep=True)`` names a nested estimator's parameters ``base__...``; ``set_params`` reaches them
    and refuses unknown ones before setting anything; ``clone`` never shares the nested estimator."""
    wrapper = _Wrapper(base=CRH(max_iter=7), scale=2.0)
    deep = wrapper.get_params(deep=True)
    assert deep["base__max_iter"] == 7 and deep["scale"] == 2.0 and isinstance(deep["base"], CRH)
    assert set(wrapper.get_params(deep=False)) == {"base", "scale"}
    assert set(deep) == {"base", "scale"} | {f"base__{k}" for k in CRH().get_params()}

    wrapper.set_params(base__max_iter=9, scale=3.0)
    assert wrapper.base.max_iter == 9 and wrapper.scale == 3.0
    with pytest.raises(InputError, match="CRH has no parameter 'nope'"):
        wrapper.set_params(scale=4.0, base__nope=1)
    with pytest.raises(InputError, match="'scale' is not an estimator"):
        wrapper.set_params(scale__x=1)
    assert wrapper.scale == 3.0  # nothing set by the refused calls

    copy = wrapper.clone()
    assert copy.base is not wrapper.base and copy.base.get_params() == wrapper.base.get_params()
    copy.set_params(base__max_iter=1)
    assert wrapper.base.max_iter == 9
    assert repr(wrapper) == "_Wrapper(base=CRH(max_iter=9), scale=3.0)"
