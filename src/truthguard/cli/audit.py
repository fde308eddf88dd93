"""``truthguard audit``: how far could k malicious workers move a platform's estimates, and which defense to use."""

from __future__ import annotations

import argparse
import time
from typing import Any

from truthguard.aggregators.registry import AGGREGATORS, make_aggregator
from truthguard.cli.common import (
    add_input_arguments,
    emit_summary,
    load_input,
    parse_assignments,
    parse_tasks_per_worker,
)
from truthguard.errors import InputError
from truthguard.experiments.audit import DEFAULT_DEFENSES, UNDEFENDED, audit
from truthguard.experiments.audit_report import write_audit
from truthguard.experiments.config import Entry

EXAMPLES = """\
examples:
  truthguard audit answers.csv --bounds 0 100 --method crh -o audit/
  truthguard audit --dataset emotion --method crh -o audit/ --max-fraction 0.3
  truthguard audit answers.csv --bounds-file bounds.csv --method gtm --k 1,2,3 \\
      --defense mwa --defense mwa:n_groups=none,weighted_median=true --defense mie:screen=10 -o audit/
  truthguard audit answers.csv --bounds 0 100 --method crh --defense none -o audit/   # the method alone

DIR receives report.html (self-contained), report.md, curve.csv, attacks.csv, tasks.csv, audit.json and figures/.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "audit",
        help="how far could k malicious workers move your estimates? with and without each defense",
        description="For k = 1, 2, 4, ... malicious workers up to --max-fraction of all workers, run the strongest "
        "attack found against the method and against each defense (full knowledge), and report how far each moves "
        "the estimates (deviation), the tasks that move most, the weight the attackers capture, each defense's cost "
        "on clean data and a recommendation. Needs each task's legal range (--bounds or --bounds-file).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--method", default="crh", metavar="NAME", help=f"the platform's method ({', '.join(AGGREGATORS)}; default crh)"
    )
    parser.add_argument(
        "-p", "--param", action="append", metavar="KEY=VALUE", help="hyper-parameter of the method, repeatable"
    )
    parser.add_argument(
        "--max-fraction",
        type=float,
        default=0.3,
        metavar="F",
        help="largest malicious share of all workers to audit (default 0.3); k doubles from 1 up to it",
    )
    parser.add_argument("--k", metavar="K,K,...", help="the numbers of malicious workers to audit, instead")
    parser.add_argument(
        "--defense",
        action="append",
        metavar="NAME[:KEY=VALUE,...]",
        help="a defense to audit, repeatable; 'none' for the method alone (default: "
        + ", ".join(_spec(entry) for entry in DEFAULT_DEFENSES)
        + ")",
    )
    parser.add_argument(
        "--tasks-per-worker",
        metavar="N|mean",
        help="tasks each malicious worker answers: a number, 'mean' (like an average honest worker) or every task "
        "(default: the worst case)",
    )
    parser.add_argument("--top", type=int, default=20, metavar="N", help="most moved tasks to list per k (default 20)")
    parser.add_argument("--jobs", type=int, metavar="N", help="processes (default: every core)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the report and tables")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the audit's figures")
    parser.set_defaults(run=run)


def _spec(entry: Entry) -> str:
    """An entry as the command line writes it: ``name:key=value,...``."""
    if not entry.options:
        return entry.name
    return entry.name + ":" + ",".join(f"{k}={str(v).lower()}" for k, v in entry.options.items())


def _defenses(specs: list[str] | None) -> list[Entry] | None:
    if specs is None:
        return None
    entries = []
    for spec in specs:
        name, _, options = spec.partition(":")
        if name.strip().lower() == UNDEFENDED:
            continue
        items = [item for item in options.split(",") if item.strip()]
        entries.append(Entry(name.strip(), parse_assignments(items, f"--defense {name.strip()}")))
    return entries


def _sizes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--k takes positive integers separated by commas, e.g. 1,2,4; got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    method = make_aggregator(args.method, **parse_assignments(args.param, "--param"))
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs takes a positive number of processes; got {args.jobs}")
    defenses, sizes, tasks = _defenses(args.defense), _sizes(args.k), parse_tasks_per_worker(args.tasks_per_worker)
    data = load_input(args)
    if data.bounds is None:
        raise InputError("the audit needs each task's legal range: give --bounds LOW HIGH or --bounds-file FILE")
    started = time.perf_counter()
    found = audit(
        data.answers, data.bounds, method, defenses=defenses, sizes=sizes, max_fraction=args.max_fraction,
        tasks_per_worker=tasks, truth=data.truth, top=args.top, random_state=args.seed or 0, jobs=args.jobs,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    written = write_audit(found, args.output, data.source)
    summary = {**found.to_dict(), "input": data.source, "output": args.output, "seconds": seconds,
               "files": [str(path) for path in written]}  # fmt: skip
    n_attacks = len(found.sizes) * found.curve["protection"].nunique()  # one per k and protection
    lines = [
        f"audit       {found.method} on {data.source}: {found.n_tasks:,} tasks, {found.n_workers:,} workers; "
        f"k = {', '.join(map(str, found.sizes))} malicious workers, {n_attacks} attacks "
        f"({len(found.attacks)} measurements with the transferred ones) in {seconds:.0f} s",
        *(
            f"k = {row['k']:<7} undefended deviation {row['undefended_deviation']:.4g}; best {row['protection']} "
            f"(deviation {row['deviation']:.4g} + clean cost {row['clean_cost']:.4g} = {row['bound']:.4g})"
            for row in summary["recommendation"]
        ),
        f"recommended {found.recommended()} against up to {found.sizes[-1]} malicious workers",
        f"report      {args.output}/report.html (tables: curve.csv, attacks.csv, tasks.csv)",
    ]
    emit_summary(summary, lines, args.json, None)
    return 0
