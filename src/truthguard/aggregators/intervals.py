r"""Uncertainty intervals for every estimate (issue #11).

Two ways, chosen by the method:

* **posterior** (GTM and LFC-N, whose weights are the workers' estimated precisions :math:`1/\sigma_i^2`):
  given the fitted variances, task :math:`m`'s truth is Gaussian with precision
  :math:`\tau_m = \lambda + \sum_{i \in N_m} 1/\sigma_i^2` (:math:`\lambda` the prior's, in the working
  scale) around the estimate: the interval is :math:`\hat x_m \pm z_{(1+\ell)/2}\, s_m / \sqrt{\tau_m}`
  (:math:`s_m` the task's standardisation scale, 1 without). Closed form, one pass.
* **bootstrap of the workers' residuals** (every other aggregator and defense): each replicate replaces every
  answer by its task's estimate plus a residual drawn, with replacement, from the same worker's residuals
  (seeded), and recomputes the method's estimate at its fitted worker weights (the truth step; one-shot
  methods' estimate; defenses that only refit are refitted). A worker's residuals are taken against the
  weighted mean of the task's *other* answers (leave-one-out), which does not shrink them towards the worker
  as the residual against an estimate it helped make would. The interval is :math:`\hat x_m \pm z\,
  \mathrm{sd}_m`, with :math:`\mathrm{sd}_m` the replicates' standard deviation (streamed: memory per task,
  not per replicate).

Why residuals and not workers: resampling the workers of a task (a Poisson bootstrap over workers) has only
that task's few answers to go on; with 10 answers per task it covered the truth on 81-85 % of the tasks at
90 % (synthetic data with known truth), while a worker's residuals pool all its tasks and covered 90-94 %.

Gold tasks get their known value as both ends. With ``calibrate=True`` the gold tasks also calibrate the
intervals (:func:`gold_calibration`): on real crowds, whose errors are partly shared, the intervals above
measure the answers' noise only and cover too little (Emotion 49-67 %, Weather 20-37 % at 90 %); scaled on
10 % gold they covered 88-93 % of the other tasks.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.core.answers import Answers
from truthguard.core.backend import NUMPY
from truthguard.core.progress import progress
from truthguard.core.sampling import RandomState, as_generator
from truthguard.core.segments import segment_weighted_mean_without
from truthguard.errors import InputError

__all__ = ["gold_calibration", "predict_interval"]

FloatArray = npt.NDArray[np.float64]
_ROUNDING = 1e-9  # (n + 1) * 0.9 is 9.000000000000002 for n = 9: not a reason to need a tenth gold task


def predict_interval(
    model: Any, answers: Answers, level: float, n_bootstrap: int, random_state: RandomState, calibrate: bool = False
) -> pd.DataFrame:
    """Each task's interval of ``model``'s fit on ``answers``: a DataFrame indexed by task with columns
    ``low`` and ``high`` (see the module's description for how; ``calibrate``: :func:`gold_calibration`)."""
    if isinstance(level, bool) or not isinstance(level, int | float | np.floating) or not 0 < level < 1:
        raise InputError(f"level must be a number between 0 and 1 (e.g. 0.9); got {level!r}")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < 2:
        raise InputError(f"n_bootstrap must be an integer >= 2; got {n_bootstrap!r}")
    known = answers.gold
    if calibrate and known is None:
        raise InputError("calibrating intervals needs gold tasks: fit with gold= (CLI: --gold FILE)")
    estimate = model.truths_.to_numpy()
    weights = model.weights_.to_numpy()
    free = answers.with_gold(None)  # gold tasks spread like the others: what the calibration compares
    posterior = getattr(model, "_posterior_sd", None)
    if posterior is not None:
        spread = np.asarray(posterior(free, weights))
    else:
        spread = _bootstrap_sd(model, free, estimate, weights, int(n_bootstrap), as_generator(random_state))
    half = NormalDist().inv_cdf(0.5 + level / 2) * spread
    if calibrate:
        assert known is not None
        half = half * gold_calibration(model._replicate(free, weights), half, known, level)
    low, high = estimate - half, estimate + half
    if known is not None:
        gold = ~np.isnan(known)
        low[gold] = high[gold] = known[gold]
    return pd.DataFrame({"low": low, "high": high}, index=answers.tasks.rename("task"))


def gold_calibration(estimate: FloatArray, half: FloatArray, known: FloatArray, level: float) -> float:
    r"""The factor by which the intervals' half-widths must grow (or shrink) to cover the gold tasks at
    ``level``, split-conformal style (Lei et al., "Distribution-free predictive inference for regression",
    JASA 2018): with :math:`r_g = |\hat x_g - x_g| / h_g` over the :math:`n` gold tasks (their estimates
    without the gold, at the fitted weights; :math:`h_g` their half-widths), the
    :math:`\lceil (n+1)\,\ell \rceil`-th smallest :math:`r_g`. The errors the answers share (a crowd that
    errs together) then widen every interval alike.

    Raises:
        InputError: Too few gold tasks with a spread for the level (``n`` < ``ℓ / (1 - ℓ)``).
    """
    gold = ~np.isnan(known) & (half > 0)
    ratio = np.sort(np.abs(estimate[gold] - known[gold]) / half[gold])
    rank = math.ceil((ratio.size + 1) * level - _ROUNDING)
    if rank > ratio.size:
        fewest = math.ceil(level / (1 - level) - _ROUNDING)
        raise InputError(
            f"calibrating {level:.0%} intervals needs at least {fewest} gold tasks with answers that spread; got "
            f"{ratio.size}: give more gold tasks or a lower level"
        )
    return float(ratio[rank - 1])


def _bootstrap_sd(
    model: Any, answers: Answers, estimate: FloatArray, weights: FloatArray, n: int, rng: np.random.Generator
) -> FloatArray:
    """Per task, the standard deviation of ``n`` replicate estimates from the workers' resampled residuals."""
    others = segment_weighted_mean_without(
        NUMPY, answers.value, weights[answers.worker], answers.task, answers.n_tasks, estimate
    )
    residuals = answers.value - others
    del others
    residuals = residuals[np.argsort(answers.worker, kind="stable")]  # grouped by worker
    counts = answers.worker_counts()
    starts = np.cumsum(counts) - counts
    mean = np.zeros(answers.n_tasks)
    m2 = np.zeros(answers.n_tasks)
    with progress(n, "bootstrap", unit="replicate") as bar:
        for b in range(n):
            # In place, one per-answer array at a time beside the residuals: draws, positions, values.
            draws = rng.random(answers.n_answers)
            draws *= counts[answers.worker]
            drawn = draws.astype(np.int64)
            del draws
            drawn += starts[answers.worker]  # a residual of the answer's own worker
            values = residuals[drawn]
            del drawn
            values += estimate[answers.task]
            replicate = model._replicate(answers.with_values(values), weights)
            del values
            delta = replicate - mean  # Welford's update, one replicate at a time
            mean += delta / (b + 1)
            m2 += delta * (replicate - mean)
            bar.update()
    sd: FloatArray = np.sqrt(m2 / (n - 1))
    return sd
