"""Defenses: aggregators that resist malicious workers, on the same estimator API as CRH or GTM.

Every defense is an :class:`~truthguard.aggregators.Aggregator` (``fit`` gives ``truths_``, ``weights_``, …),
so it can be compared, attacked and swept like any other method.
"""

from truthguard.defenses.cap import WeightCap
from truthguard.defenses.detectors import (
    DETECTORS,
    CollusionDetector,
    CombinedDetector,
    Detector,
    DisagreementDetector,
    FarmingDetector,
    InfluenceDetector,
    RemoveThenAggregate,
)
from truthguard.defenses.mie import MIE
from truthguard.defenses.mwa import MWA, WorkerGroupMWA
from truthguard.defenses.registry import DEFENSES, describe_defenses, make_defense, make_detector

__all__ = [
    "DEFENSES",
    "DETECTORS",
    "MIE",
    "MWA",
    "CollusionDetector",
    "CombinedDetector",
    "Detector",
    "DisagreementDetector",
    "FarmingDetector",
    "InfluenceDetector",
    "RemoveThenAggregate",
    "WeightCap",
    "WorkerGroupMWA",
    "describe_defenses",
    "make_defense",
    "make_detector",
]
