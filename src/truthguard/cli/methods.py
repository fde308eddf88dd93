"""``truthguard methods``: the aggregators available to ``--method`` and their hyper-parameters."""

from __future__ import annotations

import argparse
from typing import Any

from truthguard.aggregators.registry import describe_methods
from truthguard.cli.common import emit_json


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "methods",
        help="list the aggregation methods and their hyper-parameters",
        description="Aggregation methods usable with 'truthguard aggregate --method NAME'; set a "
        "hyper-parameter with -p KEY=VALUE.",
        epilog="examples:\n  truthguard methods\n  truthguard methods --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    infos = describe_methods()
    if args.json:
        emit_json(
            {
                "methods": [
                    {
                        "name": i.name,
                        "class": i.cls.__name__,
                        "summary": i.summary,
                        "params": {k: _plain(v) for k, v in i.params.items()},
                    }
                    for i in infos
                ]
            }
        )
        return 0
    width = max(len(i.name) for i in infos)
    for info in infos:
        print(f"{info.name:<{width}}  {info.summary}")
        params = ", ".join(f"{k}={v!r}" for k, v in info.params.items())
        print(f"{'':<{width}}  params: {params or 'none'}")
    return 0


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else repr(value)
