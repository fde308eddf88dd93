"""``truthguard attack``: add malicious workers to a file of answers or a dataset and measure the damage."""

from __future__ import annotations

import argparse
from typing import Any

from truthguard.aggregators.registry import AGGREGATORS, make_aggregator
from truthguard.attacks.registry import ATTACKS, make_attack
from truthguard.attacks.threat import GOALS, KNOWLEDGE, ThreatModel
from truthguard.cli.common import (
    add_defense_arguments,
    add_input_arguments,
    emit_summary,
    load_input,
    make_defended,
    parse_assignments,
    parse_tasks_per_worker,
    write_output,
)
from truthguard.core.io import read_targets
from truthguard.errors import InputError
from truthguard.experiments.evaluate import run_attack

EXAMPLES = """\
examples:
  truthguard attack --dataset emotion --attack optimized --target crh --fraction 0.1
  truthguard attack --dataset weather --attack optimized --target gtm --fraction 0.2 \\
      --knowledge partial --known-fraction 0.5 --seed 3 --json
  truthguard attack answers.csv --bounds 0 100 --attack maximum --target median --n-malicious 5 -o poisoned.csv
  truthguard attack --dataset synthetic --attack blackbox --target catd --tasks-per-worker mean
  truthguard attack --dataset emotion --attack optimized --target crh --goal targeted --targets targets.csv

The poisoned file (columns task, worker, value, malicious) can be aggregated again with 'truthguard aggregate'.
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "attack",
        help="add malicious workers and measure how far they move the estimates",
        description="Poison the answers with malicious workers crafted against an aggregator, then report "
        "its estimates' error before and after, the deviation, and the malicious shares of answers and weight.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    parser.add_argument(
        "--attack", default="optimized", metavar="NAME", help=f"attack ({', '.join(ATTACKS)}; default optimized)"
    )
    parser.add_argument(
        "--target",
        default="crh",
        metavar="METHOD",
        help=f"aggregator under attack ({', '.join(AGGREGATORS)}; default crh)",
    )
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="hyper-parameter of the aggregator under attack, repeatable",
    )
    parser.add_argument(
        "--attack-param",
        action="append",
        metavar="KEY=VALUE",
        help="attack hyper-parameter, repeatable (e.g. steps=50, restarts=1, mode=far)",
    )
    threat = parser.add_argument_group("threat model")
    size = threat.add_mutually_exclusive_group()
    size.add_argument(
        "--fraction",
        type=float,
        metavar="F",
        help="malicious share of all workers, k = round(F N / (1 - F)) (default 0.1)",
    )
    size.add_argument("--n-malicious", type=int, metavar="K", help="number of malicious workers")
    threat.add_argument(
        "--tasks-per-worker",
        metavar="N|mean",
        help="tasks each malicious worker answers: a number, 'mean' (like an average honest "
        "worker) or all of them (default)",
    )
    threat.add_argument("--knowledge", choices=KNOWLEDGE, default="full", help="what the attacker knows")
    threat.add_argument(
        "--known-fraction",
        type=float,
        default=0.5,
        metavar="R",
        help="share of honest workers a partial-knowledge attacker knows (default 0.5)",
    )
    threat.add_argument(
        "--goal",
        choices=GOALS,
        default="deviation",
        help="deviation: move every estimate as far as possible; targeted: pull --targets",
    )
    threat.add_argument("--targets", metavar="FILE", help="targeted goal: CSV/Parquet with columns task, target")
    parser.add_argument(
        "-o",
        "--output",
        metavar="POISONED",
        help="write the poisoned answers (task, worker, value, malicious) to CSV/Parquet, or -",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object with the run's figures")
    add_defense_arguments(
        parser,
        ("--defense", "attack the target inside this defense (an adaptive attack)"),
        ("--evaluate-defense", "craft the attack against the target, measure it under this defense (transfer)"),
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    target = make_aggregator(args.target, **parse_assignments(args.param, "--param"))
    make_defended(args.defense, target, args)  # a bad defense name or setting fails before any data is read
    make_defended(args.evaluate_defense, target, args)
    # Built before reading any data, so a bad name or parameter fails at once; the threat model comes later.
    attack = make_attack(args.attack, **parse_assignments(args.attack_param, "--attack-param"))
    data = load_input(args)
    if data.bounds is None:
        raise InputError("attacks need each task's legal range: give --bounds LOW HIGH or --bounds-file FILE")
    targets = read_targets(args.targets, data.answers.tasks) if args.targets is not None else None
    attack.threat = ThreatModel(
        fraction=0.1 if args.fraction is None else args.fraction,
        n_malicious=args.n_malicious,
        tasks_per_worker=parse_tasks_per_worker(args.tasks_per_worker),  # type: ignore[arg-type]
        knowledge=args.knowledge,
        known_fraction=args.known_fraction,
        goal=args.goal,
        targets=targets,
    )
    seed = 0 if args.seed is None else args.seed
    # A defense that needs the number of malicious workers (MIE) assumes the threat's: the server knows it.
    k = attack.threat.n_malicious_for(data.answers.n_workers)
    aggregator = make_defended(args.defense, target, args, n_malicious=k)
    judge = make_defended(args.evaluate_defense, target, args, n_malicious=k) if args.evaluate_defense else None
    report, poisoned = run_attack(
        data.answers, data.bounds, aggregator, attack, data.truth, random_state=seed, evaluate_with=judge
    )
    written = write_output(poisoned.to_frame(), args.output)
    summary = report.to_dict()
    attack_params = {k: v for k, v in attack.get_params(deep=False).items() if k != "threat"}
    summary.update(input=data.source, seed=seed, output=written, attack_params=attack_params)
    emit_summary(summary, _summary_lines(summary), args.json, written)
    return 0


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    threat = summary["threat"]
    lines = [
        f"attack      {summary['attack']} against {summary['aggregator']} on {summary['input']} "
        f"(seed {summary['seed']})"
        + (f", measured under {summary['evaluated_with']}" if summary["under_target"] is not None else ""),
        f"threat      {summary['n_malicious']} malicious + {summary['n_honest_workers']} honest workers, "
        f"{threat['knowledge']} knowledge, goal {threat['goal']}",
        f"answers     {summary['malicious_answer_share']:.1%} malicious overall; per task "
        f"{summary['task_share_mean']:.1%} on average, {summary['task_share_max']:.1%} at most",
        f"weight      malicious workers hold {summary['malicious_weight_share']:.1%} of the total weight",
        f"deviation   estimates moved by {summary['deviation']:.4f} on average (|after - before|)",
    ]
    if summary["stage"] != summary["attack"]:
        lines.append(f"search      the best values came from the stage '{summary['stage']}'")
    if summary["before"] is not None:
        before, after = summary["before"], summary["after"]
        lines.append(
            f"error       MAE {before['mae']:.4f} -> {after['mae']:.4f} ({summary['relative_increase']:+.1%}), "
            f"RMSE {before['rmse']:.4f} -> {after['rmse']:.4f}, over {before['n']:,} tasks with truth"
        )
    under = summary["under_target"]
    if under is not None and under["before"] is not None:
        lines.append(
            f"under {summary['aggregator']:<5} MAE {under['before']['mae']:.4f} -> {under['after']['mae']:.4f}, "
            f"deviation {under['deviation']:.4f} (the aggregator the attack was crafted against)"
        )
    lines.append(f"time        {summary['seconds']:.2f} s")
    if summary["output"] is None:
        lines.append("poisoned    not saved (add -o POISONED.csv to write the answers)")
    elif summary["output"] != "-":
        lines.append(f"poisoned    written to {summary['output']}")
    return lines
