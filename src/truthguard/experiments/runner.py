"""Running an experiment: every cell, in parallel over processes, into a tidy table that survives interruption.

The results folder holds ``cells.jsonl``, a journal with one line per finished cell (appended and flushed as
each cell ends, so Ctrl-C or a crash loses at most the cells under way), and, written atomically at the end
(and after an interruption, from what the journal holds), ``results.parquet`` and ``results.csv`` (one row
per cell and seed), ``detection.parquet`` when the experiment names detectors (their scores of every
attacked cell's workers) and ``experiment.json`` (the resolved configuration and the library's version).
Re-running the same file into the same folder runs only the cells missing from the journal, and those that
failed (their row is replaced).
"""

from __future__ import annotations

import functools
import json
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from truthguard import __version__, datasets
from truthguard.core.io import write_table
from truthguard.core.output import open_output
from truthguard.core.progress import progress
from truthguard.defenses.registry import make_detector
from truthguard.errors import InputError, TruthGuardWarning
from truthguard.experiments.config import NONE, Cell, Experiment
from truthguard.experiments.evaluate import clean_fit, run_attack
from truthguard.experiments.parallel import parallel_map
from truthguard.metrics import detection, evaluate

__all__ = ["JOURNAL", "experiment_name", "read_detection", "read_results", "run_experiment"]

JOURNAL = "cells.jsonl"
DETECTION = "detection"  # a journal row's detectors' scores (moved to their own table)
DETECTION_FILE = "detection.parquet"


def run_experiment(
    experiment: Experiment,
    directory: str | os.PathLike[str],
    jobs: int | None = None,
    on_cell: Callable[[dict[str, Any]], None] | None = None,
    pool: Executor | None = None,
) -> pd.DataFrame:
    """Run every cell of ``experiment`` not already in ``directory``'s journal and return the whole table.

    Args:
        experiment: The checked grid (:func:`~truthguard.experiments.read_experiment`).
        directory: The results folder (created if needed).
        jobs: Worker processes (default: every core); 1 runs the cells in this process. With ``pool``, the
            cells run at once there (a Dask cluster's threads).
        on_cell: Called with each finished cell's row (for a caller's own reporting).
        pool: Where the cells run instead of local processes: a Dask cluster's executor
            (``client.get_executor()``; its workers need the datasets, e.g. the same ``TRUTHGUARD_DATA``).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    journal = folder / JOURNAL
    done = {row["key"]: row for row in _read_journal(journal)}
    cells = experiment.cells()
    todo = [cell for cell in cells if done.get(cell.key, {}).get("status") != "ok"]
    units = _units(todo)
    workers = max(1, min(jobs or os.cpu_count() or 1, len(units)))
    _write_configuration(experiment, folder)
    try:
        with journal.open("a", encoding="utf-8") as log, progress(len(todo), "cells", unit="cell") as bar:
            for row in _rows(experiment, units, workers, pool):
                done[row["key"]] = row
                log.write(json.dumps(row, default=_plain) + "\n")
                log.flush()
                bar.update(1)
                if on_cell is not None:
                    on_cell(row)
    finally:  # also after Ctrl-C: the table holds every cell the journal holds
        rows = [done[c.key] for c in cells if c.key in done]
        table = _table(rows)
        write_table(table, folder / "results.parquet")
        write_table(table, folder / "results.csv")
        if experiment.detectors:
            write_table(_detection_table(rows), folder / DETECTION_FILE)
    return table


def _units(cells: list[Cell]) -> list[list[Cell]]:
    """The cells in units of work: those that share one poisoned set of answers (one attack crafted against
    the undefended method, measured under every defense) run together, so the attack runs once; the clean
    cells of a dataset and method run together. Dataset by dataset, so a worker keeps one dataset at a time."""
    units: dict[tuple[Any, ...], list[Cell]] = {}
    for cell in cells:
        if cell.attack.name == NONE:
            key: tuple[Any, ...] = (cell.dataset.label, cell.aggregator.label)
        else:
            adaptive = cell.defense.label if cell.attack.against == "defense" else None
            key = (cell.dataset.label, cell.aggregator.label, cell.attack.label, cell.attack.against, adaptive,
                   cell.fraction, cell.coverage, cell.knowledge, cell.seed)  # fmt: skip
        units.setdefault(key, []).append(cell)
    return list(units.values())


def _rows(
    experiment: Experiment, units: list[list[Cell]], workers: int, pool: Executor | None
) -> Iterator[dict[str, Any]]:
    """Each cell's row, unit by unit as units finish."""
    for rows in parallel_map(functools.partial(_run_unit, experiment), units, workers, pool):
        yield from rows


def _run_unit(experiment: Experiment, unit: list[Cell]) -> list[dict[str, Any]]:
    return [_run_one(experiment, cell) for cell in unit]


#: Per process: the last dataset loaded, and the clean fits and poisoned answers on it (see run_attack's
#: cache; cells come dataset by dataset).
_CACHE: dict[str, Any] = {"dataset": None, "data": None, "fits": {}}


def _run_one(experiment: Experiment, cell: Cell) -> dict[str, Any]:
    """One cell's row: its parameters, ``status`` ``ok`` with every metric, or ``error`` with the message;
    ``warnings``, what the library warned about (expected under attack: a worker process has no terminal to
    print them on, and the table is where a reader looks)."""
    row = _parameters(cell)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruthGuardWarning)
        try:
            if _CACHE["dataset"] != cell.dataset.label:
                _CACHE.update(
                    dataset=cell.dataset.label, data=datasets.load(cell.dataset.name, **cell.dataset.options), fits={}
                )
            row |= _measure(experiment, cell, _CACHE["data"], _CACHE["fits"])
            row["status"], row["error"] = "ok", None
        except Exception as error:  # a failing cell is recorded and the others go on
            row["status"] = "error"
            row["error"] = f"{type(error).__name__}: {error}".splitlines()[0]
            row["traceback"] = traceback.format_exc(limit=8)
    messages = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    row["warnings"] = " | ".join(messages) if messages else None
    row["seconds"] = time.perf_counter() - started
    return row


def _parameters(cell: Cell) -> dict[str, Any]:
    return {
        "key": cell.key,
        "dataset": cell.dataset.label,
        "aggregator": cell.aggregator.label,
        "defense": cell.defense.label,
        "attack": cell.attack.label,
        "against": cell.attack.against if cell.attack.name != NONE else None,
        "fraction": cell.fraction,
        "coverage": None if cell.attack.name == NONE else str(cell.coverage or "all"),
        "knowledge": None if cell.attack.name == NONE else cell.knowledge,
        "seed": cell.seed,
    }


def _measure(
    experiment: Experiment, cell: Cell, data: datasets.Dataset, fits: dict[tuple[str, ...], Any]
) -> dict[str, Any]:
    base, judged, attack = experiment.build(cell, n_honest=int(data.answers["worker"].nunique()))
    if attack is None:
        scores = evaluate(clean_fit(judged, data.answers, fits).truths_, data.truth)
        return {
            "mae_before": scores.mae, "rmse_before": scores.rmse, "mae_after": scores.mae,
            "rmse_after": scores.rmse, "relative_increase": 0.0, "deviation": 0.0, "n_malicious": 0,
            "malicious_answer_share": 0.0, "task_share_mean": 0.0, "task_share_max": 0.0,
            "malicious_weight_share": 0.0,
        }  # fmt: skip
    target = judged if cell.attack.against == "defense" else base
    report, poisoned = run_attack(
        data.answers, data.bounds, target, attack, data.truth, random_state=cell.seed,
        evaluate_with=None if target is judged else judged, cache=fits,
    )  # fmt: skip
    assert report.before is not None and report.after is not None  # every dataset here has its truth
    row: dict[str, Any] = {
        "mae_before": report.before.mae, "rmse_before": report.before.rmse, "mae_after": report.after.mae,
        "rmse_after": report.after.rmse, "relative_increase": report.relative_increase, "deviation": report.deviation,
        "n_malicious": report.n_malicious, "malicious_answer_share": report.malicious_answer_share,
        "task_share_mean": report.task_share_mean, "task_share_max": report.task_share_max,
        "malicious_weight_share": report.malicious_weight_share, "objective": report.objective,
        "stage": report.stage, "attack_seconds": report.seconds,
    }  # fmt: skip
    detected: dict[str, list[float]] = {}
    for name in experiment.detectors:
        key = ("detect", name, repr(target), repr(attack), repr(cell.seed))
        if key not in fits:  # cells sharing one poisoned set of answers score it once
            fits[key] = make_detector(name, base).score(poisoned.answers)
        found = detection(fits[key], poisoned.worker_is_malicious)
        row[f"auc_{name}"], row[f"f1_{name}"] = found.roc_auc, found.f1
        detected[name] = fits[key].to_numpy().tolist()  # in worker order: the honest workers first
    if detected:
        row[DETECTION] = detected
    if report.removed is not None:
        malicious = set(poisoned.malicious_workers)
        caught = sum(worker in malicious for worker in report.removed)
        row["removed"] = len(report.removed)
        row["removed_precision"] = caught / len(report.removed) if report.removed else 0.0
        row["removed_recall"] = caught / len(malicious) if malicious else 1.0
    return row


def read_results(directory: str | os.PathLike[str]) -> pd.DataFrame:
    """The results table of a folder written by :func:`run_experiment`.

    Raises:
        InputError: The folder has no ``results.parquet``, or it is not one.
    """
    path = Path(directory) / "results.parquet"
    if not path.is_file():
        raise InputError(f"no results table in {str(directory)!r}; run 'truthguard run' or 'reproduce' into it first")
    try:
        table = pd.read_parquet(path)
    except Exception as error:  # pyarrow's errors for a file that is not Parquet are of several types
        raise InputError(f"{str(path)!r} is not a results table ({error}); run the experiment again") from None
    missing = [c for c in ("key", "status", "attack", "defense", "fraction") if c not in table.columns]
    if missing:
        raise InputError(f"{str(path)!r} is not a results table (no column {missing[0]!r}); run the experiment again")
    return table


def experiment_name(directory: str | os.PathLike[str]) -> str:
    """The name in a results folder's ``experiment.json``, or the folder's name when it has none."""
    try:
        return str(json.loads((Path(directory) / "experiment.json").read_text(encoding="utf-8"))["experiment"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return Path(directory).resolve().name


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    return table.drop(columns=[c for c in ("traceback", DETECTION) if c in table.columns])


def _detection_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The detectors' scores of every attacked cell, long: ``key``, ``detector``, ``worker`` (its position:
    the honest workers first, the cell's ``n_malicious`` attackers last), ``malicious``, ``score``."""
    parts = []
    for row in rows:
        for name, scores in (row.get(DETECTION) or {}).items():
            n = len(scores)
            parts.append(pd.DataFrame({
                "key": row["key"], "detector": name, "worker": np.arange(n),
                "malicious": np.arange(n) >= n - int(row["n_malicious"]), "score": scores,
            }))  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=["key", "detector", "worker", "malicious", "score"])
    return pd.concat(parts, ignore_index=True)


def read_detection(directory: str | os.PathLike[str]) -> pd.DataFrame | None:
    """The detectors' scores of a results folder (see :func:`run_experiment`), None when it has none."""
    path = Path(directory) / DETECTION_FILE
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow's errors for a file that is not Parquet are of several types
        raise InputError(f"{str(path)!r} is not a detection table ({error}); run the experiment again") from None


def _read_journal(path: Path) -> list[dict[str, Any]]:
    """The journal's rows; a last line cut short by a crash is ignored (its cell runs again)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise InputError(
                    f"results journal {str(path)!r} is corrupt at line {number}; delete it to start over"
                ) from None
    return rows


def _write_configuration(experiment: Experiment, folder: Path) -> None:
    text = json.dumps({"experiment": experiment.to_dict(), "truthguard": __version__}, indent=2) + "\n"
    with open_output(folder / "experiment.json") as stream:
        stream.write(text.encode("utf-8"))


def _plain(value: Any) -> Any:
    """JSON for NumPy scalars."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")
