"""Built-in experiments: the studies TruthGuard reproduces, as experiment files shipped with the package."""

from __future__ import annotations

import tomllib
from importlib import resources

from truthguard.errors import InputError
from truthguard.experiments.config import Experiment, read_experiment

__all__ = ["STUDIES", "load_study"]

#: Built-in experiment files by name: Fang et al. (WWW 2021), and its reduced grid for a quick run.
STUDIES = ("fang2021", "fang2021-quick")


def load_study(name: str) -> Experiment:
    """The built-in experiment ``name`` (one of :data:`STUDIES`), read and checked.

    Examples:
        >>> from truthguard.experiments.studies import load_study
        >>> len(load_study("fang2021-quick").cells())
        108
    """
    if name not in STUDIES:
        raise InputError(f"unknown study {name!r}; choose one of {', '.join(STUDIES)}")
    text = resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return read_experiment(tomllib.loads(text))
