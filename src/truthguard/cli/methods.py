"""``truthguard methods``: the aggregators and attacks available, with their hyper-parameters."""

from __future__ import annotations

import argparse
from typing import Any

from truthguard.aggregators.registry import describe_methods
from truthguard.attacks.registry import ATTACKS
from truthguard.cli.common import echo, emit_json
from truthguard.defenses.registry import describe_defenses


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "methods",
        help="list the aggregation methods, defenses and attacks with their hyper-parameters",
        description="Aggregation methods (for 'aggregate --method NAME' and 'attack --target NAME'; set a "
        "hyper-parameter with -p KEY=VALUE), defenses around a method (--defense NAME; --defense-param "
        "KEY=VALUE) and attacks (for 'attack --attack NAME'; --attack-param KEY=VALUE).",
        epilog="examples:\n  truthguard methods\n  truthguard methods --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    aggregators = [(i.name, i.cls.__name__, i.summary, i.params) for i in describe_methods()]
    defenses = [(i.name, i.cls.__name__, i.summary, i.params) for i in describe_defenses()]
    attacks = [
        (name, cls.__name__, cls.summary, {k: v for k, v in cls.param_defaults().items() if k != "threat"})
        for name, cls in ATTACKS.items()
    ]
    if args.json:
        emit_json(
            {
                section: [
                    {"name": n, "class": c, "summary": s, "params": {k: _plain(v) for k, v in p.items()}}
                    for n, c, s, p in rows
                ]
                for section, rows in (("methods", aggregators), ("defenses", defenses), ("attacks", attacks))
            }
        )
        return 0
    width = max(len(name) for name, *_ in aggregators + defenses + attacks)
    for title, rows in (("aggregation methods", aggregators), ("defenses", defenses), ("attacks", attacks)):
        echo(f"{title}:")
        for name, _, summary, params in rows:
            echo(f"  {name:<{width}}  {summary}")
            shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
            echo(f"  {'':<{width}}  params: {shown or 'none'}")
    return 0


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else repr(value)
