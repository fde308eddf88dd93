"""Weather: the temperature forecasts of the CRH paper (Li et al., SIGMOD 2014), nine sources as workers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from truthguard.core.answers import Answers
from truthguard.core.bounds import Bounds
from truthguard.core.io import truth_from_frame
from truthguard.datasets.base import Dataset, DatasetSpec
from truthguard.datasets.files import DataFolder, RemoteFile, locate
from truthguard.errors import InputError

__all__ = ["TEMPERATURES", "load_weather"]

_ORIGINAL = "https://www.cse.buffalo.edu/~jing/doc/CRH.zip"
# A byte-identical copy (checked by SHA-256), used only when the original archive cannot be fetched.
_MIRROR = (
    "https://raw.githubusercontent.com/kesavsivakumar/Resolving-Conflicts-in-Heterogeneous-Data--CRH_Framework/"
    "5c5f00f161a74798dc67b31712c7eaeebfe5ed44"
)

FOLDER = DataFolder(
    folder="weather_crh2014",
    files=(
        RemoteFile(
            "weather_data_set.txt",
            "575b05b1f20bfb7549ef85a9c5167eda370c779c646a73285758362a126ea7dd",
            (_ORIGINAL, f"{_MIRROR}/weather_data_set.txt"),
            member="weather_data_set.txt",
        ),
        RemoteFile(
            "weather_ground_truth.txt",
            "f47d814fa4aee0227329c6f6d16d8e15ff7b4ed1a7e2093d1dda302053c4f752",
            (_ORIGINAL, f"{_MIRROR}/weather_ground_truth.txt"),
            member="weather_ground_truth.txt",
        ),
    ),
)

#: Entry ids come in (condition, high, low) triples: id % 3 == 2 is a high, id % 3 == 0 a low temperature.
TEMPERATURES = ("both", "high", "low")


def _numeric_rows(path: str, columns: list[str]) -> pd.DataFrame:
    """The rows of a data or truth file whose value is a temperature (categorical values start with w-)."""
    table = pd.read_csv(path, sep="\t", header=None, names=columns, dtype=str)
    table["value"] = table["value"].str.strip()
    return table[~table["value"].str.startswith("w-")].astype({"entry": np.int64, "value": np.float64})


def _select(table: pd.DataFrame, temperature: str) -> pd.DataFrame:
    if temperature == "both":
        return table
    return table[table["entry"] % 3 == (2 if temperature == "high" else 0)]


def load_weather(temperature: str = "both", low: float | None = None, high: float | None = None) -> Dataset:
    """Load the numeric Weather entries: forecast temperatures (°F) from 9 sources for (city, day) pairs.

    The categorical weather conditions are left out. Ground truth (observed temperatures) covers 1,159 of
    the numeric entries; it contains a few recording errors (e.g. 194 °F), kept as distributed.

    Args:
        temperature: ``"both"`` (default), ``"high"`` or ``"low"`` temperatures.
        low: Lower bound of every entry; by default the lowest forecast in the file (-17 °F).
        high: Upper bound; by default the highest forecast in the file (88 °F).
    """
    if temperature not in TEMPERATURES:
        raise InputError(f"unknown Weather temperature {temperature!r}; choose one of {', '.join(TEMPERATURES)}")
    folder = locate(FOLDER)
    every = _numeric_rows(str(folder / "weather_data_set.txt"), ["entry", "value", "source"])
    claims = _select(every, temperature)
    answers = pd.DataFrame(
        {
            "task": claims["entry"].to_numpy(),
            "worker": claims["source"].astype(np.int64).to_numpy(),
            "value": claims["value"].to_numpy(),
        }
    )
    bounds = Bounds(
        float(every["value"].min()) if low is None else low,
        float(every["value"].max()) if high is None else high,
    )
    bounds.check(Answers.from_frame(answers))
    truth_rows = _select(_numeric_rows(str(folder / "weather_ground_truth.txt"), ["entry", "value"]), temperature)
    truth = truth_from_frame(
        truth_rows.rename(columns={"entry": "task", "value": "truth"}),
        pd.Index(answers["task"].unique()),
        source="Weather ground truth",
    ).sort_index()
    return Dataset(
        name="weather",
        answers=answers,
        truth=truth,
        bounds=bounds,
        description=f"Weather (CRH 2014): {temperature} temperature forecasts of 9 sources",
    )


SPEC = DatasetSpec(
    name="weather",
    description="Weather: 1,400 temperature entries (°F) forecast by 9 sources, 1,159 with observed truth",
    citation=(
        "Li, Li, Gao, Zhao, Fan, Han. Resolving Conflicts in Heterogeneous Data by Truth Discovery and "
        "Source Reliability Estimation. SIGMOD 2014 (data crawled by Xin Liu, Yaliang Li, Qi Li, Jing Gao)"
    ),
    loader=load_weather,
    folder=FOLDER,
    licence="academic and education use only; the data may not be redistributed (never bundle it)",
    notes=("the Weather dataset of Fang et al. (WWW 2021), assumed: its source is not stated there",),
)
