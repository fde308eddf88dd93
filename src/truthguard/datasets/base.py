"""The dataset registry: ``load(name)``, ``list()``, ``info(name)`` and ``path(name)``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from truthguard.core.bounds import Bounds
from truthguard.datasets import files
from truthguard.errors import InputError

__all__ = ["Dataset", "DatasetSpec", "info", "list_datasets", "load", "path", "register"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A crowdsourcing dataset with ground truth.

    Attributes:
        name: Registry name.
        answers: Long table with columns ``task``, ``worker``, ``value``.
        truth: Ground truth, a Series named ``truth`` indexed by ``task`` (may cover only some tasks).
        bounds: The legal value range of each task.
        description: One line on what it is.
        workers: Per-worker facts when known (the generator's parameters for synthetic data), else None.
    """

    name: str
    answers: pd.DataFrame
    truth: pd.Series
    bounds: Bounds
    description: str
    workers: pd.DataFrame | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: how to build it and where it comes from."""

    name: str
    description: str
    citation: str
    loader: Callable[..., Dataset]
    folder: files.DataFolder | None = None
    licence: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def options(self) -> dict[str, Any]:
        """The loader's keyword options with their defaults."""
        signature = inspect.signature(self.loader)
        return {p.name: p.default for p in signature.parameters.values() if p.default is not inspect.Parameter.empty}


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset to the registry (names are unique)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"dataset {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def info(name: str) -> DatasetSpec:
    """The registry entry of ``name``.

    Raises:
        InputError: Unknown name (the message lists the known ones).
    """
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(_REGISTRY)}") from None


def list_datasets() -> list[str]:
    """Names of all registered datasets."""
    return list(_REGISTRY)


def load(name: str, **options: Any) -> Dataset:
    """Load a registered dataset: answers, ground truth and bounds.

    Args:
        name: A name from :func:`list_datasets` (``synthetic``, ``emotion``, ``weather``).
        **options: Loader options, e.g. ``load("weather", temperature="high")`` or
            ``load("synthetic", n_tasks=5000, seed=1)``; see ``info(name).options()``.

    Examples:
        >>> from truthguard import datasets
        >>> data = datasets.load("synthetic", n_tasks=50, n_workers=10, seed=3)
        >>> data.answers.shape, len(data.truth)
        ((500, 3), 50)
    """
    spec = info(name)
    valid = spec.options()
    unknown = [key for key in options if key not in valid]
    if unknown:
        raise InputError(
            f"dataset {spec.name!r} has no option {unknown[0]!r}; valid options: {', '.join(valid) or 'none'}"
        )
    return spec.loader(**options)


def path(name: str, *, download: bool = False) -> Path:
    """The folder holding the dataset's original files (downloading them first when ``download``).

    Raises:
        InputError: The dataset is generated and has no files.
        DataUnavailableError: The files are not on this machine (and ``download`` is False or fails).
    """
    spec = info(name)
    if spec.folder is None:
        raise InputError(f"dataset {spec.name!r} is generated on the fly; it has no files")
    return files.locate(spec.folder, download=download)
