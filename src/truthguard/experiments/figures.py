"""Figures of an experiment's results table: error against the malicious fraction, per dataset and method.

Every figure is a grid of panels (a row per dataset, a column per aggregator), the malicious fraction on the
x axis, the mean over seeds on the y axis with the seeds' standard deviation as error bars, and one line per
attack, defense or knowledge setting. Colours are the Okabe–Ito palette (distinguishable with every common
colour-vision deficiency) and each line also has its own marker, so the figures read in grey print too.
Each is written as PNG (150 dpi) and SVG, one file per coverage setting.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.core.output import open_output
from truthguard.metrics import roc_curve

__all__ = ["FIGURES", "describe_coverage", "figure_style", "plot_results", "save_figure", "strongest_attack"]

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.")
NONE = "none"
# No creation date in the files: the same table gives the same bytes.
_METADATA: dict[str, dict[str, Any]] = {"png": {"Software": None}, "svg": {"Date": None}}


@dataclass(frozen=True)
class Figure:
    """One kind of figure: which rows it shows, what is on the y axis, and what each line is."""

    name: str
    title: str
    y: str
    y_label: str
    lines: str  # the column whose values are the lines
    rows: Callable[[pd.DataFrame], pd.Series]  # which attacked rows it shows
    clean_point: bool = True  # start each line at fraction 0 with the clean error


def _base(values: pd.Series) -> pd.Series:
    return values.str.split("(").str[0]


def strongest_attack(table: pd.DataFrame) -> str:
    """The attack whose mean error over the undefended cells (all attacked cells if none is undefended) is
    largest: the figures and tables under the defenses use it."""
    attacked = table[table["attack"] != NONE]
    undefended = attacked[attacked["defense"] == NONE]
    source = undefended if not undefended.empty else attacked
    return str(source.groupby("attack")["mae_after"].mean().idxmax())


FIGURES = (
    Figure("attacks", "Error under each attack (no defense, full knowledge)", "mae_after", "MAE", "attack",
           lambda t: (t["defense"] == NONE) & (t["knowledge"] == "full")),
    Figure("defenses", "Error under each defense ({strongest}, full knowledge)", "mae_after", "MAE",
           "defense", lambda t: (t["attack"] == strongest_attack(t)) & (t["knowledge"] == "full")),
    Figure("knowledge", "Full against partial knowledge ({strongest}, no defense)", "mae_after", "MAE",
           "knowledge", lambda t: (t["attack"] == strongest_attack(t)) & (t["defense"] == NONE)),
    Figure("weight_share", "The attackers' share of the weight (no defense, full knowledge)",
           "malicious_weight_share", "malicious weight share", "attack",
           lambda t: (t["defense"] == NONE) & (t["knowledge"] == "full"), clean_point=False),
)  # fmt: skip


def plot_results(
    table: pd.DataFrame, directory: str | os.PathLike[str], detection: pd.DataFrame | None = None
) -> list[Path]:
    """Write every figure of ``table`` (an experiment's results) into ``directory``; the files written.

    Only successful cells are plotted; a figure with nothing to show (e.g. no partial-knowledge cells) is
    skipped. With ``detection`` (the detectors' scores, :func:`~truthguard.experiments.runner.read_detection`)
    the detectors' ROC curves are drawn too.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    ok = table[table["status"] == "ok"]
    attacked = ok[ok["attack"] != NONE]
    written: list[Path] = []
    if attacked.empty:
        return written
    with figure_style() as plt:
        for coverage in sorted(attacked["coverage"].dropna().unique()):
            covered = attacked[attacked["coverage"] == coverage]
            for figure in FIGURES:
                rows = covered[figure.rows(covered)]
                if rows.empty or rows[figure.lines].nunique() < 1:
                    continue
                clean = ok[ok["attack"] == NONE] if figure.clean_point else None
                title = figure.title.format(strongest=f"the strongest attack, {_short(strongest_attack(covered))}")
                fig = _draw(
                    plt, figure, rows, clean, f"{title}\nmalicious workers answer {describe_coverage(coverage)}"
                )
                written += save_figure(plt, fig, folder, f"{figure.name}_{coverage}")
            rows = _detected(covered, detection)
            if detection is not None and not rows.empty:
                strongest = _short(strongest_attack(covered))
                title = (f"ROC curves of the detectors\nthe strongest attack, {strongest}, no defense, full knowledge"
                         f"\nmalicious workers answer {describe_coverage(coverage)}")  # fmt: skip
                fig = _draw_roc(plt, rows, detection, title)
                written += save_figure(plt, fig, folder, f"detection_{coverage}")
    return written


def _detected(covered: pd.DataFrame, detection: pd.DataFrame | None) -> pd.DataFrame:
    """The cells of one coverage setting whose detectors' ROC curves are drawn: the strongest attack,
    undefended, full knowledge, with scores in ``detection``."""
    if detection is None or detection.empty:
        return covered[:0]
    rows = covered[(covered["attack"] == strongest_attack(covered)) & (covered["defense"] == NONE)
                   & (covered["knowledge"] == "full")]  # fmt: skip
    return rows[rows["key"].isin(set(detection["key"]))]


def _draw_roc(plt: Any, rows: pd.DataFrame, detection: pd.DataFrame, title: str) -> Any:
    """A panel per dataset and method: per fraction (colour) and detector (line style), the ROC curve
    averaged over the seeds (vertical averaging: the mean true-positive rate at each false-positive rate)."""
    datasets = list(dict.fromkeys(rows["dataset"]))
    methods = list(dict.fromkeys(rows["aggregator"]))
    detectors = list(dict.fromkeys(detection["detector"]))
    fractions = sorted(rows["fraction"].unique())
    cells = {key: group for key, group in detection.groupby(["key", "detector"], sort=False)}
    grid = np.linspace(0.0, 1.0, 101)
    fig, axes = plt.subplots(
        len(datasets), len(methods), figsize=(3.2 * len(methods) + 1.6, 3.0 * len(datasets) + 1.0),
        squeeze=False, constrained_layout=True,
    )  # fmt: skip
    for r, dataset in enumerate(datasets):
        for c, method in enumerate(methods):
            ax = axes[r][c]
            ax.plot([0, 1], [0, 1], color="#999999", linewidth=0.6, linestyle=(0, (2, 2)))
            panel = rows[(rows["dataset"] == dataset) & (rows["aggregator"] == method)]
            for number, fraction in enumerate(fractions):
                keys = panel[panel["fraction"] == fraction]["key"]
                for style, detector in enumerate(detectors):
                    curves = [_roc_on(grid, cells[(key, detector)]) for key in keys if (key, detector) in cells]
                    if curves:
                        ax.plot(grid, np.mean(curves, axis=0), label=f"f = {fraction:g}, {detector}",
                                color=OKABE_ITO[number % len(OKABE_ITO)], linewidth=1.3,
                                linestyle=LINESTYLES[style % len(LINESTYLES)])  # fmt: skip
            ax.set_title(f"{_short(dataset)} · {method}", fontsize=9)
            ax.set_xlabel("false-positive rate (honest flagged)")
            ax.set_ylabel("true-positive rate")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3, linewidth=0.5)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def _roc_on(grid: npt.NDArray[np.float64], scores: pd.DataFrame) -> npt.NDArray[np.float64]:
    """One cell's ROC curve as true-positive rates at the false-positive rates of ``grid`` (at a vertical
    step, the top of the step)."""
    fpr, tpr = roc_curve(scores["score"].to_numpy(), scores["malicious"].to_numpy())
    last = np.r_[np.diff(fpr) != 0, True]
    return np.interp(grid, fpr[last], tpr[last])


@contextlib.contextmanager
def figure_style() -> Iterator[Any]:
    """``matplotlib.pyplot`` for drawing files (never a window) in the project's style, reproducibly."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"svg.hashsalt": "truthguard", "font.size": 9, "axes.spines.top": False,
                         "axes.spines.right": False}):  # fmt: skip
        yield plt


def save_figure(plt: Any, fig: Any, folder: Path, name: str) -> list[Path]:
    """Write ``fig`` as ``folder/name.png`` (150 dpi) and ``.svg``, atomically, and close it; the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix in ("png", "svg"):
        path = folder / f"{name}.{suffix}"
        with open_output(path) as stream:  # atomic: a failed write leaves no half figure
            fig.savefig(stream, format=suffix, dpi=150, metadata=_METADATA[suffix])
        written.append(path)
    plt.close(fig)
    return written


def describe_coverage(coverage: str) -> str:
    """Who the malicious workers answer, in words, for a results table's ``coverage`` value."""
    return {"all": "every task", "mean": "as many tasks as an average honest worker"}.get(
        coverage, f"{coverage} tasks each"
    )


def _draw(plt: Any, figure: Figure, rows: pd.DataFrame, clean: pd.DataFrame | None, title: str) -> Any:
    datasets = list(dict.fromkeys(rows["dataset"]))
    methods = list(dict.fromkeys(rows["aggregator"]))
    fig, axes = plt.subplots(
        len(datasets), len(methods), figsize=(3.4 * len(methods) + 1.6, 2.6 * len(datasets) + 0.8),
        squeeze=False, constrained_layout=True,
    )  # fmt: skip
    lines = list(dict.fromkeys(rows[figure.lines]))
    for r, dataset in enumerate(datasets):
        for c, method in enumerate(methods):
            ax = axes[r][c]
            panel = rows[(rows["dataset"] == dataset) & (rows["aggregator"] == method)]
            for number, line in enumerate(lines):
                points = panel[panel[figure.lines] == line]
                if clean is not None:
                    start = clean[(clean["dataset"] == dataset) & (clean["aggregator"] == method)]
                    if figure.lines == "defense":
                        start = start[start["defense"] == line]
                    else:
                        start = start[start["defense"] == points["defense"].iloc[0]] if len(points) else start[:0]
                    points = pd.concat([start, points])
                stats = points.groupby("fraction")[figure.y].agg(["mean", "std"]).fillna({"std": 0.0})
                if stats.empty:
                    continue
                ax.errorbar(
                    stats.index, stats["mean"], yerr=stats["std"], label=_short(line),
                    color=OKABE_ITO[number % len(OKABE_ITO)], marker=MARKERS[number % len(MARKERS)],
                    markersize=4, linewidth=1.4, capsize=2,
                )  # fmt: skip
            ax.set_title(f"{_short(dataset)} · {method}", fontsize=9)
            ax.set_xlabel("malicious fraction")
            ax.set_ylabel(figure.y_label)
            ax.grid(alpha=0.3, linewidth=0.5)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def _short(label: str) -> str:
    """A line's label without long option lists: ``optimized(steps=20)`` stays, a dataset's options go."""
    return label if len(label) <= 32 else label.split("(")[0]
