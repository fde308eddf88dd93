"""``truthguard.testing.check_aggregator``: every aggregator passes it, and it catches what it claims to."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from truthguard.aggregators import AGGREGATORS, CRH, GTM, Aggregator, Mean
from truthguard.core.backend import Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.defenses import (
    MIE,
    MWA,
    CollusionDetector,
    FarmingDetector,
    RemoveThenAggregate,
    WeightCap,
    WorkerGroupMWA,
)
from truthguard.testing import CHECKS, check_aggregator

INSTANCES = {name: cls() for name, cls in AGGREGATORS.items()} | {
    "crh-absolute": CRH(loss="absolute"),
    "mwa": MWA(),
    "mwa-gtm-3-partitions": MWA(base=GTM(), n_groups=3, n_partitions=3),
    "mwa-mean-of-partitions": MWA(n_partitions=2, combine="mean"),
    "mwa-workers": WorkerGroupMWA(n_groups=3),
    "mwa-workers-gtm-2-partitions": WorkerGroupMWA(base=GTM(), n_groups=2, n_partitions=2, combine="mean"),
    "mie": MIE(n_malicious=2),
    "mie-gtm-exact": MIE(base=GTM(), n_malicious=1, search="exact"),
    "mie-screened": MIE(n_malicious=2, screen=3),
    "remove-combined": RemoveThenAggregate(n_malicious=1),
    "remove-farming-gtm": RemoveThenAggregate(FarmingDetector(base=GTM()), GTM(), n_malicious=2),
    "remove-collusion-weighted-median": RemoveThenAggregate(
        CollusionDetector(min_overlap=2), MWA(n_groups=None, weighted_median=True), n_malicious=2
    ),
    "cap": WeightCap(),
    "cap-gtm-tight": WeightCap(base=GTM(), cap=1.5),
}


@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("name", list(INSTANCES))
def test_every_aggregator_passes(name: str, check: str) -> None:
    CHECKS[check](INSTANCES[name])


class _Shifted(Mean):
    """Not translation-equivariant: adds 1 % of each task's mean (a bug such a check must catch)."""

    def _estimate(self, be: ArrayBackend, claims: Claims, worker_weights: Array) -> Array:
        return 1.01 * super()._estimate(be, claims, worker_weights)


class _Unnamed(Mean):
    """Forgets the output Series' name."""

    def fit(self, data: Any) -> Any:
        super().fit(data)
        self.truths_ = self.truths_.rename(None)
        return self


class _WrongGradient(Mean):
    """Its fit is the mean, but what it says it computes (``_estimate``) is twice the mean: a gradient lie."""

    def _fit(self, answers: Any) -> Any:
        fit = super()._fit(answers)
        return type(fit)(fit.truths / 2, fit.weights, fit.n_iter, fit.converged, fit.history)

    def _estimate(self, be: ArrayBackend, claims: Claims, worker_weights: Array) -> Array:
        return 2.0 * super()._estimate(be, claims, worker_weights)


class _Noisy(Mean):
    """Draws unseeded noise: not deterministic."""

    def _fit(self, answers: Any) -> Any:
        fit = super()._fit(answers)
        noise = np.random.default_rng().normal(0, 1e-12, fit.truths.shape)
        return type(fit)(fit.truths + noise, fit.weights, fit.n_iter, fit.converged, fit.history)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (_Shifted(), "not translation-equivariant|left its tasks"),
        (_Unnamed(), "Series named 'value'"),
        (_WrongGradient(), "gradient is wrong"),
        (_Noisy(), "different estimates|truths_"),
    ],
    ids=["translation", "names", "gradient", "determinism"],
)
def test_catches_broken_aggregators(broken: Aggregator, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_aggregator(broken)
