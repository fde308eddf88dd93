"""Fitting an aggregator on answers held on a Dask cluster: the in-memory stages and formulas, per partition."""

from __future__ import annotations

from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
from distributed import Client

from truthguard.aggregators.base import Aggregator, IterativeAggregator, _Fit, _working_exponent
from truthguard.aggregators.partitions import Parts, estimate_of, iterate
from truthguard.aggregators.registry import AGGREGATORS
from truthguard.core.answers import Answers, DuplicatePolicy
from truthguard.core.backend import NUMPY, Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.core.diagnostics import dominated_tasks
from truthguard.core.progress import progress
from truthguard.core.summaries import Largest
from truthguard.defenses.base import FixedPointDefense
from truthguard.defenses.registry import DEFENSES
from truthguard.distributed.answers import PartitionedAnswers, Source, concatenate_labels, distribute
from truthguard.errors import InputError

__all__ = ["fit", "require_supported", "supported", "supported_names"]

A = TypeVar("A", bound=Aggregator)


def supported(aggregator: Aggregator) -> bool:
    """Whether ``aggregator`` can be fitted on a cluster: a one-shot per-task method (mean, median, ...), an
    iterative method written as partition stages (CRH, GTM, LFC-N, CATD), or a defense reading its base
    method's fixed point (MWA, weight cap) over one of those."""
    if isinstance(aggregator, FixedPointDefense):
        return type(aggregator)._solve is FixedPointDefense._solve and supported(aggregator.base)
    if isinstance(aggregator, IterativeAggregator):
        kind = type(aggregator)
        staged = kind._prepare_local is not IterativeAggregator._prepare_local
        return staged and kind._solve is IterativeAggregator._solve
    return type(aggregator)._fit is Aggregator._fit


def supported_names() -> list[str]:
    """Names of the methods and defenses (around their default base method) that :func:`fit` supports."""
    return [name for name, cls in (AGGREGATORS | DEFENSES).items() if supported(cls())]


def require_supported(aggregator: Aggregator) -> None:
    """Raise :class:`~truthguard.errors.InputError`, naming the methods that can, unless :func:`supported`."""
    if not supported(aggregator):
        raise InputError(
            f"{type(aggregator).__name__} cannot be fitted on a Dask cluster; methods that can: "
            f"{', '.join(supported_names())}"
        )


def fit(
    aggregator: A,
    answers: PartitionedAnswers | Source,
    client: Client | None = None,
    *,
    npartitions: int | None = None,
    on_duplicate: DuplicatePolicy = "error",
) -> A:
    """Fit ``aggregator`` on answers held on a Dask cluster; the fitted attributes are those of ``fit``.

    Each partition holds whole tasks (see :func:`~truthguard.distributed.distribute`); the per-task work of
    every step runs where the partition lies, and only summaries cross the network: per iteration, the
    per-worker sums up a reduction tree and the new weights down to every partition (two arrays the size of
    the crowd), and one number per partition for the convergence test. The stages and formulas are the
    in-memory ones (:mod:`truthguard.aggregators.partitions`); only the order of the sums across partitions
    differs, so results equal an in-memory fit to rounding (tested to 1e-9). ``truths_`` is gathered into
    this process.

    Args:
        aggregator: The estimator (see :func:`supported`); its hyper-parameters are checked first.
        answers: Answers already distributed, or a source :func:`~truthguard.distributed.distribute` reads.
        client: The ``dask.distributed`` client (default: the current one).
        npartitions: Partitions of a source read here (default: the source's).
        on_duplicate: Repeated (task, worker) pairs in a source read here: ``"error"``, ``"mean"``, ``"last"``.

    Returns:
        ``aggregator``, fitted.

    Raises:
        InputError: An unsupported method, no client, unreadable or invalid answers, or answers beyond
            :math:`2^{\\pm 256}` in magnitude (rescale them first).

    Examples:
        >>> from distributed import Client, LocalCluster
        >>> from truthguard.aggregators import CRH
        >>> from truthguard.datasets import make_synthetic
        >>> from truthguard import distributed
        >>> data = make_synthetic(n_tasks=200, n_workers=10, seed=0)
        >>> with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        ...     with Client(cluster) as client:
        ...         model = distributed.fit(CRH(), data.answers, client)
        >>> bool(abs(model.truths_ - CRH().fit(data.answers).truths_).max() < 1e-9)
        True
    """
    aggregator._validate_params()
    require_supported(aggregator)
    if not isinstance(answers, PartitionedAnswers):
        answers = distribute(answers, _client(client), npartitions=npartitions, on_duplicate=on_duplicate)
    executor = answers.executor
    largest = executor.merged(executor.map(_largest_magnitude, answers.claims)).value
    if _working_exponent(np.array([largest])):
        raise InputError(
            f"answers reach {largest:.3g} in magnitude, beyond what a distributed fit handles (2**±256); "
            "divide them by a power of two first"
        )
    if isinstance(aggregator, IterativeAggregator):
        fitted, estimate = _fit_iterative(aggregator, answers)
    else:
        weights = executor.client.submit(aggregator._worker_weights, answers.answers[0], pure=False).result()
        estimate = executor.map(aggregator._estimate, NUMPY, answers.claims, weights)
        fitted = _Fit(np.empty(0), weights, 0, True, [])
    tasks = answers.task_labels()
    truths = np.concatenate(executor.gather(estimate))
    fitted = _Fit(truths, fitted.weights, fitted.n_iter, fitted.converged, fitted.history)
    aggregator._check_finite(fitted, tasks, answers.workers)
    if aggregator._can_be_dominated():
        found = executor.gather(executor.map(_dominated, answers.answers, estimate))
        aggregator._warn_dominated(concatenate_labels(found))
    return aggregator._set_fitted(fitted, tasks, answers.workers)


def _fit_iterative(aggregator: IterativeAggregator, answers: PartitionedAnswers) -> tuple[_Fit, Parts]:
    """The iterative method's fit, or for a fixed-point defense its base's, with the defense's estimate."""
    method = aggregator.base if isinstance(aggregator, FixedPointDefense) else aggregator
    executor, claims = answers.executor, answers.claims
    local = executor.map(method._prepare_local, NUMPY, claims)
    summary = executor.merged(executor.map(_summary, local))
    shared = method._share(NUMPY, answers.worker_counts.astype(np.float64), summary)
    prep = executor.map(_prepare_with, method, NUMPY, claims, local, shared)
    with progress(int(method.max_iter), f"{type(aggregator).__name__} on the cluster", unit="iteration") as bar:

        def advance(_: int) -> None:
            bar.update()

        run = iterate(method, NUMPY, executor, claims, prep, shared, callback=advance)
    estimate = executor.map(estimate_of, run.positions)
    if isinstance(aggregator, FixedPointDefense):
        # As FixedPointDefense._output: the base's weights at its fixed point, read by the defense's estimate.
        final = method._weights(NUMPY, shared, run.sums)
        own = executor.map(aggregator._prepare_own, claims)
        estimate = executor.map(_defended, aggregator, NUMPY, claims, own, np.asarray(final.weights))
    return _Fit(np.empty(0), np.asarray(run.weights), run.n_iter, run.converged, run.history), estimate


def _client(client: Client | None) -> Client:
    if client is not None:
        return client
    try:
        return cast(Client, Client.current())
    except ValueError:
        raise InputError("no Dask client: start one (distributed.Client(...)) or pass client=") from None


def _largest_magnitude(claims: Claims) -> Largest:
    return Largest(float(np.max(np.abs(claims.value))))


def _summary(local: tuple[Any, Any]) -> Any:
    return local[1]


def _prepare_with(
    method: IterativeAggregator, be: ArrayBackend, claims: Claims, local: tuple[Any, Any], shared: Any
) -> Any:
    return method._prepare_with(be, claims, local[0], shared)


def _defended(defense: FixedPointDefense, be: ArrayBackend, claims: Claims, own: Any, weights: Array) -> Array:
    return defense._combine(be, claims, own, weights[claims.worker])


def _dominated(answers: Answers, estimate: Array) -> pd.Index:
    return answers.tasks[dominated_tasks(answers, estimate)]
