"""A seeded generator of numeric crowdsourcing data with known truth: the built-in default dataset."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.core.bounds import Bounds
from truthguard.core.sampling import sample_distinct
from truthguard.datasets.base import Dataset, DatasetSpec
from truthguard.errors import InputError

__all__ = ["make_synthetic"]

IntArray = npt.NDArray[np.int64]

# Rows of the random matrix drawn at once when assigning many workers per task (caps memory near 80 MB).
_CHUNK_CELLS = 10_000_000


def make_synthetic(
    n_tasks: int = 1000,
    n_workers: int = 100,
    answers_per_task: int | None = None,
    density: float | None = None,
    truth_low: float = -100.0,
    truth_high: float = 100.0,
    sigma_low: float = 1.0,
    sigma_high: float = 20.0,
    bias_scale: float = 0.0,
    seed: int = 0,
) -> Dataset:
    r"""Generate answers from heterogeneous Gaussian workers.

    Each task's truth is :math:`x_*^m \sim U[\text{truth\_low}, \text{truth\_high}]`; each worker has a noise
    level :math:`\sigma_i \sim U[\text{sigma\_low}, \text{sigma\_high}]` and a bias
    :math:`b_i \sim N(0, \text{bias\_scale}^2)`; an answer is
    :math:`x_i^m = x_*^m + b_i + \sigma_i \varepsilon`, :math:`\varepsilon \sim N(0, 1)`, clipped to the
    bounds :math:`[\text{truth\_low}, \text{truth\_high}]`. The defaults (1,000 tasks, 100 workers who answer
    every task, truths in [-100, 100], :math:`\sigma_i \in [1, 20]`) follow the setting proposed for Fang et
    al.'s synthetic dataset (``paper-reconstruction.md`` §7.1).

    Who answers what: every worker answers every task by default; ``answers_per_task = k`` gives each task
    ``k`` distinct workers drawn uniformly; ``density = p`` keeps each (task, worker) pair with probability
    ``p`` (tasks left with no answer are dropped from answers and truth).

    Args:
        n_tasks: Number of tasks.
        n_workers: Number of workers.
        answers_per_task: Distinct workers per task (at most ``n_workers``), or None.
        density: Probability that a worker answers a task, in (0, 1], or None.
        truth_low: Lower end of the truths and of the bounds.
        truth_high: Upper end of the truths and of the bounds.
        sigma_low: Smallest worker noise standard deviation.
        sigma_high: Largest worker noise standard deviation.
        bias_scale: Standard deviation of the per-worker bias (0: unbiased workers).
        seed: Seed of the generator; the same seed gives the same dataset.

    Returns:
        A :class:`~truthguard.datasets.Dataset` whose ``workers`` table has each worker's ``sigma`` and ``bias``.

    Examples:
        >>> from truthguard.datasets import make_synthetic
        >>> data = make_synthetic(n_tasks=100, n_workers=20, answers_per_task=5, seed=1)
        >>> len(data.answers), data.answers.groupby("task").size().unique().tolist()
        (500, [5])
    """
    _check(
        n_tasks,
        n_workers,
        answers_per_task,
        density,
        truth_low,
        truth_high,
        sigma_low,
        sigma_high,
        bias_scale,
    )
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise InputError(f"seed must be a non-negative integer; got {seed!r}")
    rng = np.random.default_rng(seed)
    truth = rng.uniform(truth_low, truth_high, size=n_tasks)
    sigma = rng.uniform(sigma_low, sigma_high, size=n_workers)
    bias = rng.normal(0.0, bias_scale, size=n_workers) if bias_scale > 0 else np.zeros(n_workers)
    task, worker = _assign(rng, n_tasks, n_workers, answers_per_task, density)
    noise = rng.standard_normal(task.size)
    value = np.clip(truth[task] + bias[worker] + sigma[worker] * noise, truth_low, truth_high)
    answers = pd.DataFrame({"task": task, "worker": worker, "value": value})
    answered = np.unique(task)
    truth_series = pd.Series(truth[answered], index=pd.Index(answered, name="task"), name="truth")
    workers = pd.DataFrame({"sigma": sigma, "bias": bias}, index=pd.Index(np.arange(n_workers), name="worker"))
    return Dataset(
        name="synthetic",
        answers=answers,
        truth=truth_series,
        bounds=Bounds(truth_low, truth_high),
        description=f"synthetic: {n_tasks} tasks, {n_workers} Gaussian workers (seed {seed})",
        workers=workers,
    )


def _check(
    n_tasks: int,
    n_workers: int,
    answers_per_task: int | None,
    density: float | None,
    truth_low: float,
    truth_high: float,
    sigma_low: float,
    sigma_high: float,
    bias_scale: float,
) -> None:
    reals = {
        "truth_low": truth_low,
        "truth_high": truth_high,
        "sigma_low": sigma_low,
        "sigma_high": sigma_high,
        "bias_scale": bias_scale,
    }
    for name, number in reals.items():
        if not isinstance(number, int | float | np.number) or isinstance(number, bool) or not np.isfinite(number):
            raise InputError(f"{name} must be a finite number; got {number!r}")
    for name, count in (("n_tasks", n_tasks), ("n_workers", n_workers)):
        if not isinstance(count, int | np.integer) or isinstance(count, bool) or count < 1:
            raise InputError(f"{name} must be a positive integer; got {count!r}")
    if answers_per_task is not None and density is not None:
        raise InputError("give answers_per_task or density, not both")
    if answers_per_task is not None and not (
        isinstance(answers_per_task, int | np.integer) and 1 <= answers_per_task <= n_workers
    ):
        raise InputError(f"answers_per_task must be an integer in [1, n_workers={n_workers}]; got {answers_per_task!r}")
    if density is not None and not (isinstance(density, int | float) and 0 < density <= 1):
        raise InputError(f"density must be in (0, 1]; got {density!r}")
    if not truth_low < truth_high:
        raise InputError(f"truth_low must be below truth_high; got {truth_low!r} and {truth_high!r}")
    if not 0 <= sigma_low <= sigma_high:
        raise InputError(f"need 0 <= sigma_low <= sigma_high; got {sigma_low!r} and {sigma_high!r}")
    if not bias_scale >= 0:
        raise InputError(f"bias_scale must be >= 0; got {bias_scale!r}")


def _assign(
    rng: np.random.Generator, n_tasks: int, n_workers: int, per_task: int | None, density: float | None
) -> tuple[IntArray, IntArray]:
    """(task, worker) codes of the answered pairs, sorted by task."""
    if density is not None:
        task_parts, worker_parts = [], []
        rows = max(1, _CHUNK_CELLS // n_workers)
        for start in range(0, n_tasks, rows):
            stop = min(n_tasks, start + rows)
            t, w = np.nonzero(rng.random((stop - start, n_workers)) < density)
            task_parts.append(t + start)
            worker_parts.append(w)
        return np.concatenate(task_parts).astype(np.int64), np.concatenate(worker_parts).astype(np.int64)
    k = n_workers if per_task is None else per_task
    chosen = sample_distinct(rng, n_tasks, n_workers, k)
    return np.repeat(np.arange(n_tasks, dtype=np.int64), k), chosen.ravel()


SPEC = DatasetSpec(
    name="synthetic",
    description="seeded synthetic answers from heterogeneous Gaussian workers (the built-in default)",
    citation="generator of TruthGuard; defaults follow the proposed setting for Fang et al. (WWW 2021)",
    loader=make_synthetic,
    notes=("needs no download; every option changes the data, the seed fixes it",),
)
