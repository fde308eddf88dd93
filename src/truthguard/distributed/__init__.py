"""Answers too large for one machine: fitting on a Dask cluster (the optional extra ``truthguard[distributed]``).

Answers are read (Parquet) and sorted into partitions of whole tasks on the cluster
(:func:`distribute`); :func:`fit` then runs the in-memory stages of a method on every partition and
merges their per-worker summaries (:mod:`truthguard.aggregators.partitions`), so the formulas are those of
the in-memory estimators, written once. See the README's "Beyond one machine" for running on a cluster.
"""

from __future__ import annotations

try:
    import dask.dataframe  # noqa: F401
    import distributed  # noqa: F401
except ImportError as error:  # pragma: no cover - the extra is installed in every test environment
    from truthguard.errors import InputError

    raise InputError(
        f"fitting on a Dask cluster needs the optional dependencies ({error.name} is missing): "
        'pip install "truthguard[distributed]"'
    ) from None

from truthguard.distributed.answers import PartitionedAnswers, distribute
from truthguard.distributed.cluster import LOCAL, connect
from truthguard.distributed.executor import DaskExecutor
from truthguard.distributed.fit import fit, require_supported, supported, supported_names

__all__ = [
    "LOCAL",
    "DaskExecutor",
    "PartitionedAnswers",
    "connect",
    "distribute",
    "fit",
    "require_supported",
    "supported",
    "supported_names",
]
