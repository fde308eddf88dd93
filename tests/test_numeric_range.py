"""Numeric range: never NaN or infinity with exit 0, never a NumPy warning, and a warning where one answer rules.

RuntimeWarnings are errors in this test suite (``pyproject.toml``), so every fit below also shows that no
overflow or 0/0 happened on the way.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import Run, assert_input_error, make_runner
from truthguard import Answers, InputError
from truthguard.aggregators import AGGREGATORS, CRH, GTM, Median
from truthguard.core.diagnostics import dominated_tasks
from truthguard.errors import DominatedEstimateWarning, NumericalError

# The audit's case: one answer of 1e308 among small values (GTM gave NaN for two tasks, CRH NaN weights
# reported as converged, LFC-N all weights 0).
HUGE = pd.DataFrame(
    {
        "task": [1, 1, 1, 2, 2, 2, 3, 3, 3],
        "worker": ["a", "b", "c"] * 3,
        "value": [3.0, 4.0, 1e308, 5.0, 7.0, 6.0, 1.0, 2.0, 2.0],
    }
)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(capsys)


@pytest.mark.parametrize("name", list(AGGREGATORS))
def test_one_huge_answer_gives_finite_results(name: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DominatedEstimateWarning)
        model = AGGREGATORS[name]().fit(HUGE)
    assert np.all(np.isfinite(model.truths_)), model.truths_
    assert np.all(np.isfinite(model.weights_)), model.weights_
    assert all(np.isfinite(model.objective_history_))
    assert model.truths_.loc[2] == pytest.approx(6.0, abs=1.0)  # the untouched tasks are estimated as usual
    assert model.truths_.loc[3] == pytest.approx(5 / 3, abs=0.5)
    dominated = [str(w.message) for w in caught if issubclass(w.category, DominatedEstimateWarning)]
    # Pulled towards 1e308 by all but the median and Huber's estimate (trimmed means cut 0 of 3 answers here).
    if model.truths_.loc[1] > 1e6:
        assert len(dominated) == 1
        assert "(task 1)" in dominated[0] and "use a robust aggregator (median, trimmed-mean)" in dominated[0]
    else:
        assert name in ("median", "huber")
        assert dominated == []


@pytest.mark.filterwarnings("ignore::truthguard.errors.DominatedEstimateWarning")
def test_crh_weights_on_the_huge_answer() -> None:
    """CRH reported NaN weights as converged: now worker c, with the absurd answer, weighs least."""
    model = CRH().fit(HUGE)
    assert model.converged_
    assert model.weights_.idxmin() == "c"


@pytest.mark.parametrize("power", [-1000, -700, 700, 1000])
@pytest.mark.parametrize("name", list(AGGREGATORS))
def test_extreme_magnitudes_are_exact(name: str, power: int) -> None:
    """Answers near 2**±1000 give the estimates of ordinary ones, times 2**power, bit for bit (the direct
    arithmetic overflowed at 2**700: squares; or vanished at 2**-700, silently off by 4 for CRH)."""
    rng = np.random.default_rng(3)
    table = pd.DataFrame(
        {"task": np.repeat(np.arange(40), 6), "worker": np.tile(np.arange(6), 40), "value": rng.normal(50, 20, 240)}
    )
    plain = AGGREGATORS[name]().fit(table).truths_.to_numpy()
    scaled = AGGREGATORS[name]().fit(table.assign(value=np.ldexp(table["value"].to_numpy(), power)))
    np.testing.assert_array_equal(np.ldexp(scaled.truths_.to_numpy(), -power), plain)


def test_unstandardised_gtm_scales_its_priors_or_says_why_not() -> None:
    table = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b", "a", "b"], "value": [1.0, 2.0, 3.0, 5.0]})
    k = 400
    plain = GTM(standardize=False, beta=2.0, mu0=1.0, sigma0=30.0).fit(table).truths_.to_numpy()
    big = GTM(standardize=False, beta=np.ldexp(2.0, 2 * k), mu0=np.ldexp(1.0, k), sigma0=np.ldexp(30.0, k))
    scaled = big.fit(table.assign(value=np.ldexp(table["value"].to_numpy(), k))).truths_.to_numpy()
    np.testing.assert_array_equal(np.ldexp(scaled, -k), plain)
    # Default priors (beta=10 in the answers' unit, sigma0=1) beside answers near 2**-1000: not expressible.
    with pytest.raises(InputError, match=r"GTM\(standardize=False\) has priors in the answers' units .* use "
                       r"standardize=True or give priors on the answers' scale"):  # fmt: skip
        GTM(standardize=False).fit(table.assign(value=np.ldexp(table["value"].to_numpy(), -1000)))


def test_gtm_sigma0_too_small_is_refused_not_a_division_by_zero() -> None:
    with pytest.raises(InputError, match=r"GTM sigma0 must be a number in \[3\.05494e-151, inf\]; got 1e-200"):
        GTM(sigma0=1e-200).fit(HUGE)


def test_non_finite_results_are_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Median._estimate

    def broken(self: Median, *args: object, **kwargs: object) -> np.ndarray:
        out = np.array(real(self, *args, **kwargs), dtype=np.float64)
        out[1] = np.nan
        return out

    monkeypatch.setattr(Median, "_estimate", broken)
    with pytest.raises(
        NumericalError, match=r"Median produced 1 non-finite estimate\(s\), e\.g\. for 2; this is a bug"
    ):
        Median().fit(HUGE)


# ------------------------------------------------------------------ the dominated-estimate diagnostic


def _dominated(values_per_task: list[list[float]], estimates: list[float]) -> list[int]:
    rows = [(t, w, v) for t, values in enumerate(values_per_task) for w, v in enumerate(values)]
    answers = Answers.from_frame(pd.DataFrame(rows, columns=["task", "worker", "value"]))
    return dominated_tasks(answers, np.array(estimates)).tolist()


def test_dominated_tasks_by_hand() -> None:
    # Five ordinary tasks [1, 2, 3, 4] with estimate 2.5 (mean absolute deviation 1) set the typical spread: 1.
    # Task 0: others 1..3 (spread 2, magnitude 3): the limit is 3 + 10 * max(2, 1, 3, 1) = 33; 250 is beyond.
    # Task 1: the mirror image, from below. Task 2: 20 is within the limit. Task 3: two answers, never judged.
    ordinary = [[1, 2, 3, 4]] * 5
    values = [[1, 2, 3, 1000], [-1000, -3, -2, -1], [1, 2, 3, 1000], [0, 1e9], *ordinary]
    assert _dominated(values, [250.0, -250.0, 20.0, 5e8, *[2.5] * 5]) == [0, 1]
    assert _dominated(values, [33.0, -33.0, 33.0, 5e8, *[2.5] * 5]) == []  # exactly at the limit: not beyond it


def test_typical_spread_keeps_near_zero_consensus_unflagged() -> None:
    # Ratings that are mostly 0 (as in Emotion): one 50 among nine 0s pulls the mean to 5, an ordinary
    # disagreement measured against the typical spread of the other tasks (mean absolute deviation 10).
    spread = [[0, 10, 20, 30, 40]] * 5  # estimate 20: deviations 20, 10, 0, 10, 20 -> 12
    values = [[0] * 9 + [50], *spread]
    assert _dominated(values, [5.0, *[20.0] * 5]) == []
    assert _dominated(values, [130.0, *[20.0] * 5]) == [0]  # beyond 0 + 10 * 12


def test_dominated_tasks_need_a_single_answer_far_out() -> None:
    # Two answers far out together are a majority of opinion, not a slip: the second largest is far out too.
    assert _dominated([[1, 2, 1000, 1000]], [500.0]) == []


def test_real_datasets_raise_no_dominated_warning(load_real: object) -> None:
    for name in ("emotion", "weather"):
        data = load_real(name)  # type: ignore[operator]
        answers = Answers.from_frame(data.answers)
        for cls in AGGREGATORS.values():
            with warnings.catch_warnings():
                warnings.simplefilter("error", DominatedEstimateWarning)
                cls().fit(answers)


# ------------------------------------------------------------------ command line


def test_cli_huge_answer(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    HUGE.to_csv(path, index=False)
    for method in AGGREGATORS:
        code, out, err = run("aggregate", path, "--method", method, "--json")
        assert code == 0, err
        summary = json.loads(out)
        assert "Traceback" not in err and "RuntimeWarning" not in err
        assert summary["warnings"] == [line.removeprefix("truthguard: warning: ") for line in err.splitlines()]
    code, out, err = run("aggregate", path, "--method", "gtm", "-o", tmp_path / "est.csv")
    assert code == 0
    assert np.all(np.isfinite(pd.read_csv(tmp_path / "est.csv")["value"]))
    assert err.startswith("truthguard: warning: 1 task(s) have a GTM estimate dominated by a single answer")


def test_cli_gtm_priors_that_cannot_be_expressed(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text("task,worker,value\n1,a,1e-300\n1,b,3e-300\n")
    code, out, err = run("aggregate", path, "--method", "gtm", "-p", "standardize=false")
    assert "has priors in the answers' units" in assert_input_error(code, out, err)


def test_a_plain_median_is_never_dominated_so_its_fit_skips_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The property behind the skip: a median has at least half a task's answers on each side, so one
    answer can never dominate it (checked on random tasks of 3 to 8 answers, one absurd outlier in each).
    Its fit therefore skips the check; a weighted median, which one heavy worker can carry, runs it."""
    from truthguard.aggregators import base

    rng = np.random.default_rng(0)
    sizes = rng.integers(3, 9, 400)
    task = np.repeat(np.arange(sizes.size), sizes)
    value = rng.normal(0, 1, task.size)
    value[np.cumsum(sizes) - 1] = 1e12 * rng.choice([-1, 1], sizes.size)
    frame = pd.DataFrame({"task": task, "worker": np.concatenate([np.arange(n) for n in sizes]), "value": value})
    answers = Answers.from_frame(frame)
    assert dominated_tasks(answers, Median().fit(answers).truths_.to_numpy()).size == 0
    calls: list[int] = []
    monkeypatch.setattr(base, "dominated_tasks", lambda *args: calls.append(1) or np.zeros(0, dtype=np.int64))
    Median().fit(answers)
    assert calls == []
    Median(weights=pd.Series(1.0, index=range(8))).fit(answers)
    assert calls == [1]
