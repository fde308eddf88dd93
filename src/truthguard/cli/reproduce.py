"""``truthguard reproduce``: run the built-in reproduction of Fang et al. (WWW 2021) into a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from truthguard.cli.common import echo
from truthguard.cli.plot import publish
from truthguard.cli.run import add_grid_arguments, report_run, run_grid
from truthguard.experiments.studies import load_study

EXAMPLES = """\
examples:
  truthguard reproduce --quick -o results/      # synthetic data only: about 40 s on two cores
  truthguard reproduce -o results/ --jobs 2     # the whole study (synthetic, Emotion, Weather)
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="run the built-in reproduction of Fang et al. (WWW 2021)",
        description="Run the built-in experiment reproducing Fang et al.'s study (synthetic, Emotion and Weather; "
        "CRH and GTM; no attack, random, maximum and optimised attacks with full and partial knowledge; no "
        "defense, MWA and MIE; malicious fractions 0 to 30 %; both coverage settings; three seeds) into the "
        "results folder, resumable as 'truthguard run' is, then draw its figures and write its report (see "
        "'truthguard plot'). --quick runs a reduced grid on synthetic data only.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="the reduced grid on synthetic data (under a minute)")
    add_grid_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    experiment = load_study("fang2021-quick" if args.quick else "fang2021")
    table = run_grid(experiment, args)
    status = report_run(experiment, table, args)
    _, lines = publish(table, Path(args.output), experiment.name)
    if not args.json:  # one JSON object on standard output; `truthguard plot DIR --json` lists the files
        echo("\n".join(lines))
    return status
