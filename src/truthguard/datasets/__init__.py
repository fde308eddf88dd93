"""Datasets: ``load(name)`` gives answers, ground truth and bounds; ``list()`` names them.

``synthetic`` is generated (no download); ``emotion`` and ``weather`` are the original files of their authors,
found in ``$TRUTHGUARD_DATA``, the user cache, or downloaded with a checksum (see
:mod:`truthguard.datasets.files`).
"""

from truthguard.datasets import emotion, synthetic, weather
from truthguard.datasets.base import Dataset, DatasetSpec, info, list_datasets, load, path, register
from truthguard.datasets.synthetic import make_synthetic

# The order of the registry is the order of `truthguard datasets list`: the built-in default first.
for _spec in (synthetic.SPEC, emotion.SPEC, weather.SPEC):
    register(_spec)

list = list_datasets  # the registry's public verb, as the issue names it

__all__ = ["Dataset", "DatasetSpec", "info", "list", "list_datasets", "load", "make_synthetic", "path", "register"]
