"""The ``truthguard`` command: parse, call the library, format. Input errors exit with status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from truthguard import __version__
from truthguard.cli import aggregate, attack, datasets, methods
from truthguard.cli.common import Parser
from truthguard.errors import TruthGuardError

EXAMPLES = """\
examples:
  truthguard aggregate --dataset synthetic --method crh
  truthguard aggregate answers.csv --method gtm --truth truth.csv -o estimates.csv --json
  truthguard attack --dataset emotion --attack optimized --target crh --fraction 0.1
  truthguard datasets list
  truthguard methods

Every command takes --help. Input problems print one line and exit with status 2.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="truthguard",
        description="Aggregate crowdsourced numeric answers robustly, and audit how far malicious workers "
        "could move the estimates.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"truthguard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for module in (aggregate, attack, datasets, methods):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except TruthGuardError as error:
        print(f"truthguard: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("truthguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into head: nothing left to say
        return 0
    return status


if __name__ == "__main__":
    sys.exit(main())
