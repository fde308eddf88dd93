"""A fit's state in a file, to continue it later with new answers (``--save-state``, ``--warm-start``).

**Format, version 1.** A ZIP archive holding four members:

* ``state.json``: ``{"format": "truthguard-state", "version": 1, "method": "<repr of the estimator>",
  "truthguard": "<version that wrote it>", "n_tasks": …, "n_workers": …, "n_answers": …, "n_iter": …}``;
* ``answers.parquet``: the answers fitted so far, columns ``task``, ``worker``, ``value``;
* ``estimates.parquet``: columns ``task``, ``value`` (``truths_``);
* ``weights.parquet``: columns ``worker``, ``weight`` (``weights_``).

Any ZIP and Parquet reader opens it. Continuing needs the answers themselves, not only the estimates: the
result must be the fit of all the answers. A state continues only with the estimator that wrote it (same
class and hyper-parameters: ``method`` must match), and only a version this TruthGuard knows is read.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from importlib.metadata import version
from typing import Any

import pandas as pd

from truthguard.core.answers import Answers
from truthguard.core.io import _write_parquet
from truthguard.core.output import open_output
from truthguard.errors import InputError

__all__ = ["STATE_VERSION", "load_state", "save_state"]

STATE_VERSION = 1
_FORMAT = "truthguard-state"
_MEMBERS = ("state.json", "answers.parquet", "estimates.parquet", "weights.parquet")


def save_state(model: Any, path: str | os.PathLike[str]) -> None:
    """Write the state of ``model``'s last fit to ``path`` (atomically; see the module for the format)."""
    answers = model._answers_of_fit("save_state")
    header = {"format": _FORMAT, "version": STATE_VERSION, "method": repr(model), "truthguard": version("truthguard"),
              "n_tasks": answers.n_tasks, "n_workers": answers.n_workers, "n_answers": answers.n_answers,
              "n_iter": int(model.n_iter_)}  # fmt: skip
    tables = {
        "answers.parquet": answers.to_frame(),
        "estimates.parquet": model.truths_.rename("value").rename_axis("task").reset_index(),
        "weights.parquet": model.weights_.rename("weight").rename_axis("worker").reset_index(),
    }
    with open_output(path) as stream, zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as archive:
        _write_member(archive, "state.json", json.dumps(header, indent=2).encode())
        for name, frame in tables.items():
            buffer = io.BytesIO()
            _write_parquet(frame, buffer, name)
            _write_member(archive, name, buffer.getvalue())


def _write_member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # no time stamp: same fit, same bytes
    archive.writestr(info, data)


def load_state(model: Any, path: str | os.PathLike[str]) -> Any:
    """Restore into ``model`` (unfitted, the estimator that wrote the state) the fit saved at ``path``, so that
    ``model.partial_fit(new_answers)`` continues it.

    Raises:
        InputError: The file is missing, not a state file, damaged, of an unknown version, or written by
            another estimator.
    """
    shown = repr(str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            missing = [name for name in _MEMBERS if name not in archive.namelist()]
            if missing:
                raise InputError(f"state file {shown} lacks {', '.join(missing)}; give a file --save-state wrote")
            header = json.loads(archive.read("state.json"))
            tables = {name: pd.read_parquet(io.BytesIO(archive.read(name))) for name in _MEMBERS[1:]}
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError(f"state file {shown} does not exist; check the path") from None
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, OSError, ValueError, KeyError) as error:
        raise InputError(f"state file {shown} is damaged or not a state file ({type(error).__name__}); "
                         "give a file --save-state wrote") from None  # fmt: skip
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        raise InputError(f"state file {shown} is not a TruthGuard state file; give a file --save-state wrote")
    if header.get("version") != STATE_VERSION:
        raise InputError(
            f"state file {shown} has format version {header.get('version')!r}; TruthGuard "
            f"{version('truthguard')} reads version {STATE_VERSION}: fit the answers afresh"
        )
    if header.get("method") != repr(model):
        raise InputError(
            f"state file {shown} was written by {header.get('method')}, not {model!r}; continue it with the "
            "same method and hyper-parameters, or fit afresh"
        )
    try:
        answers = Answers.from_frame(tables["answers.parquet"])
        truths = tables["estimates.parquet"].set_index("task")["value"]
        weights = tables["weights.parquet"].set_index("worker")["weight"]
    except (InputError, KeyError) as error:
        raise InputError(f"state file {shown} is damaged ({error}); give a file --save-state wrote") from None
    if len(truths) != answers.n_tasks or len(weights) != answers.n_workers:
        raise InputError(f"state file {shown} is damaged (its tables disagree); give a file --save-state wrote")
    model._restore(answers, truths.reindex(answers.tasks), weights.reindex(answers.workers), int(header["n_iter"]))
    return model
