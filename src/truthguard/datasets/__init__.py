"""Datasets: ``load(name)`` gives answers, ground truth and bounds; ``list()`` names them.

``synthetic`` is generated (no download); ``emotion`` and ``weather`` are the original files of their authors,
found in ``$TRUTHGUARD_DATA``, the user cache, or downloaded with a checksum (see
:mod:`truthguard.datasets.files`).
"""

from truthguard.datasets import emotion as _emotion  # noqa: F401  (registers the dataset)
from truthguard.datasets import weather as _weather  # noqa: F401  (registers the dataset)
from truthguard.datasets.base import Dataset, DatasetSpec, info, list_datasets, load, path
from truthguard.datasets.synthetic import make_synthetic  # registers "synthetic" first: the default

list = list_datasets

__all__ = ["Dataset", "DatasetSpec", "info", "list", "list_datasets", "load", "make_synthetic", "path"]
