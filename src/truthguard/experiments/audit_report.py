"""An audit's files: its tables (CSV), a JSON summary, figures and ``report.md`` / ``report.html``.

Nothing written depends on the clock or the machine: the same answers and seed give the same bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from truthguard import __version__
from truthguard.core.io import write_table
from truthguard.core.output import open_output
from truthguard.experiments.audit import UNDEFENDED, Audit
from truthguard.experiments.document import Block, write_document
from truthguard.experiments.figures import MARKERS, OKABE_ITO, figure_style, save_figure

__all__ = ["write_audit"]


def write_audit(found: Audit, directory: str | os.PathLike[str], source: str = "answers") -> list[Path]:
    """Write ``found`` into ``directory`` (created if needed): ``curve.csv``, ``attacks.csv``, ``tasks.csv``,
    ``audit.json``, ``figures/audit_*.png`` and ``.svg``, ``report.md`` and ``report.html``; ``source`` names
    the answers in the report. Returns the paths written."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in (("curve", found.curve), ("attacks", found.attacks), ("tasks", found.tasks)):
        path = folder / f"{name}.csv"
        write_table(table, path)
        written.append(path)
    summary = {"source": source, "truthguard": __version__, **found.to_dict()}
    with open_output(folder / "audit.json") as stream:
        stream.write((json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    written.append(folder / "audit.json")
    figures = _figures(found, folder / "figures")
    written += figures
    pngs = {path.stem: path for path in figures if path.suffix == ".png"}
    written += write_document(_blocks(found, source, pngs), folder, f"{source}: vulnerability audit of {found.method}")
    return written


def _figures(found: Audit, folder: Path) -> list[Path]:
    """The curves (deviation, bound, weight share against k, one line per protection) and the most moved
    tasks at the largest k."""
    curve = found.curve
    protections = list(dict.fromkeys(curve["protection"]))
    panels = (("deviation", "deviation D (mean |shift|)"), ("bound", "bound D + C (from the clean method)"),
              ("weight_share", "attackers' share of the weight"))  # fmt: skip
    written = []
    with figure_style() as plt:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), constrained_layout=True)
        for ax, (column, label) in zip(axes, panels, strict=True):
            for number, protection in enumerate(protections):
                rows = curve[curve["protection"] == protection]
                ax.plot(rows["k"], rows[column], label=protection, color=OKABE_ITO[number % len(OKABE_ITO)],
                        marker=MARKERS[number % len(MARKERS)], markersize=4, linewidth=1.4)  # fmt: skip
            ax.set_xlabel("malicious workers k")
            ax.set_ylabel(label)
            ax.set_xticks(list(found.sizes))
            ax.grid(alpha=0.3, linewidth=0.5)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), frameon=False)
        fig.suptitle(f"How far k malicious workers move {found.method}'s estimates (strongest attack found)",
                     fontsize=10)  # fmt: skip
        written += save_figure(plt, fig, folder, "audit_curves")
        k = found.sizes[-1]
        top = found.tasks[found.tasks["k"] == k]
        fig, ax = plt.subplots(figsize=(6.5, 0.22 * len(top) + 1.2), constrained_layout=True)
        labels = [str(task) for task in top["task"]]
        positions = np.arange(len(top))[::-1]
        ax.barh(positions, top["shift"], color=OKABE_ITO[1])
        ax.set_yticks(positions, labels, fontsize=7)
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_xlabel("shift of the estimate (poisoned - clean)")
        ax.set_title(f"The {len(top)} tasks {k} malicious workers move most ({found.method}, no defense)",
                     fontsize=10)  # fmt: skip
        written += save_figure(plt, fig, folder, "audit_tasks")
    return written


def _blocks(found: Audit, source: str, figures: dict[str, Path]) -> list[Block]:
    curve, k_max = found.curve, found.sizes[-1]
    coverage = {None: "every task", "mean": "as many tasks as an average honest worker"}.get(
        found.tasks_per_worker,  # type: ignore[arg-type]
        f"{found.tasks_per_worker} tasks each",
    )
    best = found.recommendation[found.recommendation["k"] == k_max].iloc[0]
    blocks = [
        Block("p", f"TruthGuard {__version__}. {source}: {found.n_tasks:,} tasks, {found.n_workers:,} workers, "
              f"{found.n_answers:,} answers, aggregated with {found.method}. For each number k of malicious "
              f"workers (who know every honest answer and answer {coverage}), the strongest attack found "
              "against the method and against each defense: how far it moves the estimates, and at what cost "
              "each defense comes on clean data."),
        Block("h2", "Recommendation"),
        Block("p", _recommendation_text(found, best)),
        Block("table", table=_rounded(found.recommendation)),
        Block("h2", "How far k malicious workers move the estimates"),
        Block("p", "Deviation D: the mean over tasks of |estimate under attack - estimate without attack|, under "
              "the stronger of the attack crafted against the undefended method (transferred) and the attack "
              "crafted against the protection itself (adaptive)."),
        Block("table", table=_pivot(curve, "deviation")),
    ]  # fmt: skip
    if "audit_curves" in figures:
        blocks.append(Block("figure", "audit curves", path=figures["audit_curves"]))
    blocks += [
        Block("h2", "What each defense costs on clean data"),
        Block("p", "Clean cost C: the mean |defense's estimate - method's estimate| on the answers as they are (a "
              "removing defense told to expect k attackers removes k workers even when there are none)."),
        Block("table", table=_pivot(curve, "clean_cost")),
        Block("p", "The bound D + C: how far, on average, the published estimates under attack can be from the "
              "method's clean estimates (triangle inequality), whatever the truth. The recommendation is the "
              "protection with the smallest bound."),
        Block("table", table=_pivot(curve, "bound")),
        Block("h2", "The weight the attackers capture"),
        Block("table", table=_pivot(curve, "weight_share")),
    ]  # fmt: skip
    if "mae" in curve:
        blocks += [
            Block("h2", "Error against the ground truth"),
            Block("p", "MAE of each protection's estimates under its strongest attack (k = 0: on the clean answers, "
                  "with the removing defenses expecting the largest k)."),
            Block("table", table=_pivot(curve, "mae", clean=True)),
        ]  # fmt: skip
    top = found.tasks[found.tasks["k"] == k_max].drop(columns=["k"])
    blocks += [
        Block("h2", f"The tasks that move most with {k_max} malicious workers (no defense)"),
        Block("table", table=_rounded(top)),
    ]
    if "audit_tasks" in figures:
        blocks.append(Block("figure", "audit tasks", path=figures["audit_tasks"]))
    blocks += [
        Block("h2", "How this was measured"),
        Block("p", "Attacks: the optimised attack (gradients through the fitted method) against differentiable "
              "methods, the black-box attack otherwise; full knowledge, goal: move every estimate as far as "
              "possible. Each is a search that can miss stronger values, so every figure here is a lower bound "
              "on what k attackers could do. Tables: curve.csv (per k and protection), attacks.csv (every "
              "attack run), tasks.csv (most moved tasks per k), audit.json (this summary)."),
    ]  # fmt: skip
    return blocks


def _recommendation_text(found: Audit, best: pd.Series) -> str:
    k, undefended = int(best["k"]), float(best["undefended_deviation"])
    share = f"{best['fraction']:.0%} of all workers"
    if best["protection"] == UNDEFENDED:
        text = (f"Against up to {k} malicious workers ({share}), keep {found.method} undefended: no defense "
                f"audited moves less once its clean cost is counted (deviation {undefended:.3g}).")  # fmt: skip
    else:
        text = (
            f"Against up to {k} malicious workers ({share}), publish with {best['protection']}: the attack moves its "
            f"estimates by {best['deviation']:.3g} on average (undefended {found.method}: {undefended:.3g}), at a "
            f"clean cost of {best['clean_cost']:.3g}, for a bound of {best['bound']:.3g}."
        )
    rows = found.curve[(found.curve["k"] == k) & (found.curve["protection"] == UNDEFENDED)]
    majority = float(rows["task_share"].iloc[0])
    if majority >= 0.5:
        text += (f" At this k the attackers give {majority:.0%} of a task's answers on average, a majority that no "
                 "aggregation of the answers can outvote: only screening workers before their answers count (gold "
                 "tasks, a reputation history) can help.")  # fmt: skip
    return text + " The table gives the choice for each k."


def _pivot(curve: pd.DataFrame, column: str, clean: bool = False) -> pd.DataFrame:
    """``column`` with one row per protection and one column per k (``clean``: a first column k = 0, the
    clean figure ``mae_clean`` at the largest k)."""
    order = list(dict.fromkeys(curve["protection"]))
    table = curve.pivot(index="protection", columns="k", values=column).reindex(order)
    if clean:
        last = curve[curve["k"] == curve["k"].max()].set_index("protection")["mae_clean"]
        table.insert(0, 0, last.reindex(order))
    table.columns = [f"k = {k}" for k in table.columns]
    return _rounded(table.reset_index())


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.round(3)
