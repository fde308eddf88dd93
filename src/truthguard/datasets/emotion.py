"""Emotion (N_Emotion): Snow et al.'s affect ratings as packaged by Zheng et al. (PVLDB 2017)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from truthguard.core.answers import Answers
from truthguard.core.bounds import Bounds
from truthguard.core.io import truth_from_frame
from truthguard.datasets.base import Dataset, DatasetSpec
from truthguard.datasets.files import DataFolder, RemoteFile, locate
from truthguard.errors import InputError

__all__ = ["DIMENSIONS", "load_emotion"]

_COMMIT = "8d216471071f09b9e474ee19f8d692447f982f88"
_BASE = f"https://raw.githubusercontent.com/zhydhkcws/crowd_truth_infer/{_COMMIT}/datasets/f201_Emotion_FULL"

FOLDER = DataFolder(
    folder="emotion_zheng2017",
    files=(
        RemoteFile(
            "answer.csv",
            "8a33684760a7fc51980ddc2d19d157f9d0197bcc3611cc4a2c8cdb65fdaf1d1b",
            (f"{_BASE}/answer.csv",),
        ),
        RemoteFile(
            "truth.csv",
            "0fdfa983818a3524ba572c7eb7a3fd6b314844105ae9449b630425faa3176be4",
            (f"{_BASE}/truth.csv",),
        ),
    ),
)

#: The seven blocks of 100 question ids, in order; valence (601-700) is on [-100, 100], the rest on [0, 100].
DIMENSIONS = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "valence")


def load_emotion(dimension: str = "all") -> Dataset:
    """Load Emotion: 700 items (100 headlines x 7 affect dimensions), 38 workers, 10 answers per item.

    Question ids come in blocks of 100, one per dimension (anger 1-100, ..., valence 601-700). Bounds are
    [0, 100] for the six emotion intensities and [-100, 100] for valence, as in the original task.

    Args:
        dimension: ``"all"`` or one of :data:`DIMENSIONS` to keep only that block.
    """
    if dimension != "all" and dimension not in DIMENSIONS:
        raise InputError(f"unknown Emotion dimension {dimension!r}; choose all or one of {', '.join(DIMENSIONS)}")
    folder = locate(FOLDER)
    raw = pd.read_csv(folder / "answer.csv")
    answers = raw.rename(columns={"question": "task", "answer": "value"})[["task", "worker", "value"]]
    answers = answers.astype({"value": np.float64})
    truth_table = pd.read_csv(folder / "truth.csv").rename(columns={"question": "task"})
    if dimension != "all":
        block = DIMENSIONS.index(dimension)
        answers = answers[(answers["task"] - 1) // 100 == block].reset_index(drop=True)
        truth_table = truth_table[(truth_table["task"] - 1) // 100 == block]
    tasks = np.sort(answers["task"].unique())
    valence = tasks > 600
    bounds = Bounds(
        pd.Series(np.where(valence, -100.0, 0.0), index=pd.Index(tasks, name="task")),
        pd.Series(np.full(tasks.size, 100.0), index=pd.Index(tasks, name="task")),
    )
    bounds.check(Answers.from_frame(answers))
    truth = truth_from_frame(truth_table, pd.Index(tasks), source="Emotion truth.csv").sort_index()
    return Dataset(
        name="emotion",
        answers=answers,
        truth=truth,
        bounds=bounds,
        description="Emotion (N_Emotion): affect ratings of news headlines by Mechanical Turk workers",
    )


SPEC = DatasetSpec(
    name="emotion",
    description="Emotion (N_Emotion): 700 items, 38 workers, 7,000 ratings in [0,100] or [-100,100], expert truth",
    citation=(
        "Snow, O'Connor, Jurafsky, Ng. Cheap and Fast - But is it Good? EMNLP 2008; packaged as N_Emotion by "
        "Zheng, Li, Li, Shan, Cheng. Truth Inference in Crowdsourcing: Is the Problem Solved? PVLDB 10(5), 2017"
    ),
    loader=load_emotion,
    folder=FOLDER,
    licence="no licence stated; research use, cite Snow et al. 2008 and Zheng et al. 2017",
    notes=("the Emotion dataset of Fang et al. (WWW 2021)",),
)
