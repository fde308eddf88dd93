"""Explicit edge cases for every aggregator: tiny tables, agreement, exact workers, extreme magnitudes.

Common checks (``check_fit``): truths and weights finite and indexed by the task / worker labels, every truth
within its task's answer range (up to a few ulps of rounding), ``n_iter_ >= 1`` and one objective value per
iteration for iterative methods (``n_iter_ == 0`` and no history for one-shot ones), ``converged_`` a bool.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from truthguard.aggregators import (
    AGGREGATORS,
    CATD,
    CRH,
    GTM,
    LFCN,
    Aggregator,
    IterativeAggregator,
    Mean,
    Median,
    TrimmedMean,
)

Factory = Callable[[], Aggregator]

FACTORIES: dict[str, Factory] = {name: cls for name, cls in AGGREGATORS.items()}
FACTORIES["crh-absolute"] = lambda: CRH(loss="absolute")
FACTORIES["crh-max"] = lambda: CRH(normalization="max")
ALL = pytest.mark.parametrize("make", list(FACTORIES.values()), ids=list(FACTORIES))

# Methods that learn worker weights from the answers (the one-shot ones report fixed unit weights).
WEIGHT_LEARNING = (CRH, GTM, LFCN, CATD)


def table(rows: list[tuple[object, object, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "worker", "value"])


def check_fit(model: Aggregator, df: pd.DataFrame) -> None:
    """Invariants every fit must satisfy, whatever the data (see the module docstring)."""
    truths, weights = model.truths_, model.weights_
    assert sorted(truths.index) == sorted(df["task"].unique())
    assert sorted(weights.index) == sorted(df["worker"].unique())
    assert np.all(np.isfinite(truths.to_numpy())), truths
    assert np.all(np.isfinite(weights.to_numpy())), weights
    # Truths are weighted means / medians of the task's answers: inside [min, max]. A weighted mean of equal
    # values may round a few ulps away (e.g. CRH gives 0.09999999999999999 for three answers 0.1).
    grouped = df.groupby("task")["value"]
    low = grouped.min().reindex(truths.index).to_numpy()
    high = grouped.max().reindex(truths.index).to_numpy()
    ulps = 8 * np.spacing(np.maximum(np.abs(low), np.abs(high)))
    assert np.all(truths.to_numpy() >= low - ulps), truths.to_numpy() - low
    assert np.all(truths.to_numpy() <= high + ulps), truths.to_numpy() - high
    assert isinstance(model.converged_, bool)
    if isinstance(model, IterativeAggregator):
        assert model.n_iter_ >= 1
        assert len(model.objective_history_) == model.n_iter_
        assert np.all(np.isfinite(model.objective_history_))
        assert model.converged_ or model.n_iter_ == model.max_iter
    else:
        assert model.n_iter_ == 0
        assert model.objective_history_ == []


def symmetric_table(offset: float = 0.0, unit: float = 1.0) -> tuple[pd.DataFrame, pd.Series]:
    """5 tasks; worker "exact" answers the task mean; the others sit symmetrically at +-d and +-2.5d around it.

    Returns the table and the per-task mean (the truth every method must find, by symmetry).
    """
    means = {f"t{k}": offset + unit * m for k, m in enumerate([3.0, -7.5, 12.25, 0.0, 40.0])}
    spreads = dict(zip(means, [1.0, 2.0, 0.5, 4.0, 1.5], strict=True))
    rows = []
    for task, mean in means.items():
        d = unit * spreads[task]
        for worker, delta in (("exact", 0.0), ("hi", d), ("lo", -d), ("hi2", 2.5 * d), ("lo2", -2.5 * d)):
            rows.append((task, worker, mean + delta))
    return table(rows), pd.Series(means)


def noisy_table(offset: float = 0.0, unit: float = 1.0) -> pd.DataFrame:
    """8 tasks x 6 workers of varied precision (fixed seed), on a grid of 1/64 so that offsets are exact."""
    rng = np.random.default_rng(12345)
    sigmas = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
    rows = []
    for t in range(8):
        truth = float(rng.integers(-200, 200))
        for w, sigma in enumerate(sigmas):
            if (t + w) % 5 != 4:  # leave a few holes
                rows.append((t, f"w{w}", offset + unit * (truth + np.round(rng.normal(0, sigma) * 64) / 64)))
    return table(rows)


# ----------------------------------------------------------------------------------- one answer


@ALL
@pytest.mark.parametrize("value", [0.0, -3.25, 0.1, 1e12 + 0.3])
def test_one_answer_in_total(make: Factory, value: float) -> None:
    df = table([("only-task", "only-worker", value)])
    model = make().fit(df)
    check_fit(model, df)
    # Expected: the single answer is the task's whole range, so the truth is that answer (up to ulps).
    assert model.truths_["only-task"] == pytest.approx(value, rel=1e-15, abs=0)


# ----------------------------------------------------------------------------------- one task, many workers


@ALL
def test_one_task_many_workers(make: Factory) -> None:
    rng = np.random.default_rng(7)
    values = np.round(rng.normal(50.0, 10.0, size=40), 3)
    values[:3] = [500.0, -400.0, 650.0]  # a few gross outliers
    df = table([("task", f"worker{i:02d}", float(v)) for i, v in enumerate(values)])
    model = make().fit(df)
    check_fit(model, df)
    truth = model.truths_["task"]
    # Expected values of the one-shot methods from numpy / scipy directly.
    if type(model) is Mean:
        assert truth == pytest.approx(float(np.mean(values)), rel=1e-12)
    elif type(model) is Median:
        assert truth == float(np.median(values))
    elif type(model) is TrimmedMean:
        assert truth == pytest.approx(float(scipy.stats.trim_mean(values, 0.1)), rel=1e-12)
    if isinstance(model, WEIGHT_LEARNING):
        # The outliers are the workers farthest from the truth: none of them may outweigh the median worker.
        inliers = model.weights_.drop(["worker00", "worker01", "worker02"])
        assert model.weights_[["worker00", "worker01", "worker02"]].max() < inliers.median()


# ----------------------------------------------------------------------------------- total agreement


def identical_table(value: float) -> pd.DataFrame:
    return table([(f"t{t}", f"w{w}", value) for t in range(3) for w in range(4)])


@ALL
@pytest.mark.parametrize("value", [1.0, 0.1, -250.0, 0.7, 1e12 + 0.3])
def test_all_answers_identical(make: Factory, value: float) -> None:
    df = identical_table(value)
    model = make().fit(df)
    check_fit(model, df)
    # Expected: every task's range is the single value; all workers are interchangeable (each answers the same
    # value), so they get equal weights, up to rounding.
    np.testing.assert_allclose(model.truths_.to_numpy(), value, rtol=1e-15, atol=0)
    weights = model.weights_.to_numpy()
    np.testing.assert_allclose(weights, weights[0], rtol=1e-9, atol=1e-12)


@ALL
def test_all_answers_identical_weights_do_not_depend_on_the_value(make: Factory) -> None:
    # Two tables that differ only by which value everyone agrees on are the same problem shifted (translation
    # invariance of the weights; the one-shot methods report ones, CRH -log(1/4) ...). Expected: the weights
    # for agreement on 0.1, 0.7 or 1e12 + 0.3 equal those for agreement on 1.0.
    #
    # BUG (LFC-N, CATD): gaussian._InverseVariance._prepare sets the variance guard's floor to
    # 1e-12 * var(all answers), with 1.0 meant for constant data (`xp.where(spread > 0, spread, 1.0)`). But
    # numpy.var of identical floats such as 0.1 is rounding noise (1.9e-34), not 0, so the floor becomes
    # ~2e-46 instead of 1e-12 and every weight is 5.2e45 instead of 1e12 (0.7: 8.1e43; 1e12 + 0.3: 1.7e19).
    # Same root cause as the segment_std bug in test_segments.test_std_constant_segment_is_one.
    reference = make().fit(identical_table(1.0)).weights_
    for value in (0.1, 0.7, 1e12 + 0.3):
        weights = make().fit(identical_table(value)).weights_
        np.testing.assert_allclose(weights.to_numpy(), reference.to_numpy(), rtol=1e-6, err_msg=f"value={value}")


@ALL
def test_constant_task_among_varying_ones(make: Factory) -> None:
    df = noisy_table()
    # Task 100: every worker answers 0.1 exactly (zero variance), mixed in with the noisy tasks.
    df = pd.concat([df, table([(100, f"w{w}", 0.1) for w in range(6)])], ignore_index=True)
    model = make().fit(df)
    check_fit(model, df)
    # Expected: the constant task's range is {0.1}, so its truth is 0.1 (up to ulps, see check_fit).
    assert model.truths_[100] == pytest.approx(0.1, rel=1e-14, abs=0)


# ----------------------------------------------------------------------------------- two workers


STABLE = {name: make for name, make in FACTORIES.items() if name != "crh-max"}


@pytest.mark.parametrize("make", list(STABLE.values()), ids=list(STABLE))
def test_two_workers_relabelled(make: Factory) -> None:
    # Two workers answering the same three tasks. Reversing the task labels (which reverses the internal task
    # codes, hence the order of every per-worker sum) and swapping the worker labels are relabellings: the
    # truths must not change (expected: the truths of the original labels, up to rounding).
    #
    # CRH with normalization="max" is left out on purpose: the median of two answers is their midpoint, so
    # both workers' distances are mathematically equal and both get weight -log(D/max D) = 0; rounding then
    # decides which one gets all the weight (its docstring says so; see test_crh_max_two_workers below).
    a_answers, b_answers = [-187.0, -387.0, -537.0], [-470.63, 724.55, -458.7]
    df = table([(t, w, v) for w, answers in (("a", a_answers), ("b", b_answers)) for t, v in enumerate(answers)])
    model = make().fit(df)
    check_fit(model, df)
    reversed_tasks = make().fit(df.assign(task=2 - df["task"]))
    swapped_workers = make().fit(df.assign(worker=df["worker"].map({"a": "b", "b": "a"})))
    expected = model.truths_.to_numpy()
    np.testing.assert_allclose(reversed_tasks.truths_.to_numpy()[::-1], expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(swapped_workers.truths_.to_numpy(), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(swapped_workers.weights_.to_numpy()[::-1], model.weights_.to_numpy(), rtol=1e-9)


def test_crh_max_two_workers_ends_on_one_worker_or_the_mean() -> None:
    # The documented instability of CRH's max normalisation with two tied workers: whatever rounding decides,
    # the result is one of the three fixed points (worker a's answers, worker b's, or their mean), never
    # something else, and it is finite.
    a_answers, b_answers = [-187.0, -387.0, -537.0], [-470.63, 724.55, -458.7]
    df = table([(t, w, v) for w, answers in (("a", a_answers), ("b", b_answers)) for t, v in enumerate(answers)])
    truths = CRH(normalization="max").fit(df).truths_.to_numpy()
    mean = (np.array(a_answers) + np.array(b_answers)) / 2
    assert any(np.allclose(truths, option) for option in (a_answers, b_answers, mean))


# ----------------------------------------------------------------------------------- exact worker


@ALL
def test_worker_answering_the_mean_on_every_task(make: Factory) -> None:
    df, means = symmetric_table()
    model = make().fit(df)
    check_fit(model, df)
    # Expected by symmetry: "hi"/"lo" and "hi2"/"lo2" are mirror images around the "exact" worker, so they get
    # equal weights and every weighted mean / median / trimmed mean is the task mean.
    scale = float(df["value"].abs().max())
    np.testing.assert_allclose(model.truths_.reindex(means.index).to_numpy(), means.to_numpy(), atol=1e-9 * scale)
    weights = model.weights_
    assert weights["hi"] == pytest.approx(weights["lo"], rel=1e-9)
    assert weights["hi2"] == pytest.approx(weights["lo2"], rel=1e-9)
    if isinstance(model, WEIGHT_LEARNING):
        # Zero distance to the truths: the exact worker must weigh the most, the +-2.5d workers the least.
        assert weights["exact"] > weights.drop("exact").max()
        assert weights[["hi2", "lo2"]].max() < weights[["hi", "lo"]].min()


# ----------------------------------------------------------------------------------- extreme magnitudes


@ALL
def test_large_offset(make: Factory) -> None:
    offset = 1e12
    base, shifted = noisy_table(), noisy_table(offset=offset)
    model = make().fit(shifted)
    check_fit(model, shifted)
    # Expected: translation equivariance. The answers are on a 1/64 grid, so base + 1e12 is exact; rounding at
    # 1e12 is ~1e-4 per operation (ulp 1.2e-4), hence the 1e-2 tolerance against answer spreads of 0.5..16.
    reference = make().fit(base)
    np.testing.assert_allclose(model.truths_.to_numpy() - offset, reference.truths_.to_numpy(), rtol=0, atol=1e-2)
    weights, reference_weights = model.weights_, reference.weights_
    assert weights.idxmax() == reference_weights.idxmax()
    if isinstance(model, LFCN | CATD):
        # Without a prior these drift towards one dominant worker (documented in LFCN's docstring) whose residual
        # becomes 0 up to rounding: its weight is 1 / (rounding noise + guard), ~2e7 here, and the noise of the
        # 1e12-offset data differs from that of the base data. Only the other workers' weights are well posed.
        weights = weights.drop(weights.idxmax())
        reference_weights = reference_weights.drop(reference_weights.idxmax())
    np.testing.assert_allclose(weights.to_numpy(), reference_weights.to_numpy(), rtol=1e-3)


@ALL
@pytest.mark.parametrize("offset", [0.0, 3.0])
def test_tiny_spread(make: Factory, offset: float) -> None:
    unit = 1e-9
    tiny, base = noisy_table(offset=offset, unit=unit), noisy_table()
    model = make().fit(tiny)
    check_fit(model, tiny)
    # Expected: every method is translation and scale equivariant in its truths (CRH divides by per-task std,
    # GTM standardises per task, LFC-N / CATD weights scale as 1/unit^2 and cancel in the weighted mean), so the
    # truths are offset + unit * (truths of the unscaled table). At offset 3 the answers carry float64 rounding
    # of ~4e-16, i.e. ~4e-7 of the 1e-9 unit: tolerance 1e-4 of the unit.
    reference = make().fit(base)
    expected = offset + unit * reference.truths_.to_numpy()
    np.testing.assert_allclose(model.truths_.to_numpy(), expected, rtol=0, atol=1e-4 * unit)


@ALL
def test_exact_worker_with_huge_offset_and_tiny_spread(make: Factory) -> None:
    # The symmetric table at both extremes: offset 1e12 with unit 1 (ulps of 1.2e-4), and unit 1e-9 near 0.
    for offset, unit in ((1e12, 1.0), (0.0, 1e-9)):
        df, means = symmetric_table(offset=offset, unit=unit)
        model = make().fit(df)
        check_fit(model, df)
        # Expected by symmetry, as in test_worker_answering_the_mean_on_every_task, within rounding of the data.
        tolerance = 1e-3 if offset else 1e-6 * unit
        np.testing.assert_allclose(model.truths_.reindex(means.index).to_numpy(), means.to_numpy(), atol=tolerance)
