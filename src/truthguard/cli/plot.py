"""``truthguard plot``: the figures of a results folder, from its table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from truthguard.cli.common import emit_summary
from truthguard.experiments.figures import plot_results
from truthguard.experiments.report import write_report
from truthguard.experiments.runner import experiment_name, read_results

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
        "knowledge, and the attackers' share of the weight, per dataset and method) and the report "
        "(RESULTS_DIR/report.md and a self-contained report.html).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", metavar="RESULTS_DIR", help="a results folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the files written")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return draw(Path(args.results), args.json)


def draw(folder: Path, as_json: bool) -> int:
    """Draw the figures and write the report of ``folder``, and say so (shared with ``truthguard reproduce``)."""
    table = read_results(folder)
    written = plot_results(table, folder / "figures")
    markdown, page = write_report(table, folder, written, experiment_name(folder))
    summary = {"figures": [str(path) for path in written], "report": [str(markdown), str(page)]}
    lines = [
        f"figures     {len(written)} files in {folder / 'figures'}",
        f"report      {markdown}, {page}",
    ]
    emit_summary(summary, lines, as_json, None)
    return 0
