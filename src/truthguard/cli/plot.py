"""``truthguard plot``: the figures of a results folder, from its table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from truthguard.cli.common import emit_summary
from truthguard.experiments.figures import plot_results
from truthguard.experiments.runner import read_results

EXAMPLES = """\
examples:
  truthguard plot results/          # results/figures/attacks_all.png, .svg, ...
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="draw the figures of a results folder (written by 'truthguard run' or 'reproduce')",
        description="Read RESULTS_DIR/results.parquet and write the figures (PNG and SVG) into "
        "RESULTS_DIR/figures: error against the malicious fraction under each attack, under each defense, with "
        "full and partial knowledge, and the attackers' share of the weight, per dataset and method.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("results", metavar="RESULTS_DIR", help="a results folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the files written")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return draw(Path(args.results), args.json)


def draw(folder: Path, as_json: bool) -> int:
    """Draw the figures of ``folder`` and report them (shared with ``truthguard reproduce``)."""
    written = plot_results(read_results(folder), folder / "figures")
    summary = {"figures": [str(path) for path in written]}
    lines = [f"figures     {len(written)} files in {folder / 'figures'}"]
    emit_summary(summary, lines, as_json, None)
    return 0
