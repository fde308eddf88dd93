"""``truthguard plot``: the figures of a results folder, from its table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from truthguard.cli.common import emit_summary
from truthguard.experiments.figures import plot_results
from truthguard.experiments.report import write_report
from truthguard.experiments.runner import experiment_name, read_detection, read_results

EXAMPLES = """\
examples:
  truthguard plot results/          # results/figures/attacks_all.png, .svg, ...
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="draw the figures and write the report of a results folder (from 'truthguard run' or 'reproduce')",
        description="Read RESULTS_DIR/results.parquet, write the figures (PNG and SVG) into RESULTS_DIR/figures "
        "(error against the malicious fraction under each attack, under each defense, with full and partial "
        "knowledge, and the attackers' share of the weight, per dataset and method; the detectors' ROC curves "
        "when the experiment names detectors) and the report "
        "(RESULTS_DIR/report.md and a self-contained report.html).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", metavar="RESULTS_DIR", help="a results folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the files written")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.results)
    summary, lines = publish(read_results(folder), folder, experiment_name(folder))
    emit_summary(summary, lines, args.json, None)
    return 0


def publish(table: pd.DataFrame, folder: Path, name: str) -> tuple[dict[str, Any], list[str]]:
    """Draw the figures and write the report of ``table`` into ``folder`` (shared with ``truthguard
    reproduce``): what was written, as a JSON summary and as text lines."""
    written = plot_results(table, folder / "figures", read_detection(folder))
    markdown, page = write_report(table, folder, written, name)
    summary = {"figures": [str(path) for path in written], "report": [str(markdown), str(page)]}
    lines = [f"figures     {len(written)} files in {folder / 'figures'}", f"report      {markdown}, {page}"]
    return summary, lines
