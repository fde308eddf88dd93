"""``truthguard aggregate``: estimate every task's value from a file of answers or a built-in dataset."""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import pandas as pd

from truthguard.aggregators.basic import Mean, Median
from truthguard.aggregators.registry import AGGREGATORS, make_aggregator
from truthguard.cli.cluster import add_cluster_arguments, cluster_client, load_on_cluster
from truthguard.cli.common import (
    Input,
    add_defense_arguments,
    add_input_arguments,
    emit_summary,
    load_input,
    make_defended,
    parse_assignments,
    recorded_warnings,
    write_output,
)
from truthguard.core.answers import Answers
from truthguard.core.gold import DEFAULT_SCREEN_FACTOR
from truthguard.core.io import read_table, task_values_from_frame
from truthguard.core.params import Configurable
from truthguard.defenses import MIE
from truthguard.errors import InputError
from truthguard.metrics import evaluate

EXAMPLES = """\
examples:
  truthguard aggregate --dataset synthetic --method crh
  truthguard aggregate answers.csv --method gtm --truth truth.csv -o estimates.csv
  truthguard aggregate --dataset emotion --method crh -p loss=absolute --json
  truthguard aggregate --dataset weather --dataset-option temperature=high --method catd
  truthguard aggregate answers.parquet --method median --weights reputation.csv -o -
  truthguard aggregate answers.csv --gold gold.csv --gold-screen --workers-out workers.csv -o estimates.csv
  truthguard aggregate --dataset emotion --method crh --intervals 0.9 --seed 0 -o estimates.csv
  truthguard aggregate monday.csv --method gtm --save-state gtm.state
  truthguard aggregate tuesday.csv --method gtm --warm-start gtm.state --save-state gtm.state -o estimates.csv
  truthguard aggregate answers/ --method gtm --dask local -o estimates.parquet      # a folder of Parquet files
  truthguard aggregate answers/ --method crh --scheduler tcp://10.0.0.5:8786 -o estimates.parquet
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "aggregate",
        help="estimate each task's value from the workers' answers",
        description="Estimate each task's value with a truth-discovery method or a robust aggregator. "
        "Writes a table with columns task, value (and low, high with --intervals).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    parser.add_argument(
        "-m",
        "--method",
        default="crh",
        metavar="NAME",
        help=f"aggregator ({', '.join(AGGREGATORS)}; default crh; see 'truthguard methods')",
    )
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="aggregator hyper-parameter, repeatable (e.g. -p max_iter=50 -p loss=absolute)",
    )
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help="fixed worker weights for mean/median: CSV or Parquet with columns worker, weight",
    )
    parser.add_argument(
        "--gold",
        metavar="FILE",
        help="known values of some tasks (CSV/Parquet with columns task, truth): kept as their estimates, "
        "anchoring the weights, and screening the workers by their error on them",
    )
    parser.add_argument(
        "--gold-screen",
        nargs="?",
        const=True,
        type=_screen_factor,
        metavar="FACTOR",
        help="with --gold: leave out the workers whose mean gold error exceeds FACTOR (default 3) times the "
        "median worker's",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="write the estimates (columns task, value) to this CSV/Parquet file, or - for stdout",
    )
    parser.add_argument(
        "--intervals",
        type=_level,
        metavar="LEVEL",
        help="add columns low, high to the estimates: an interval meant to cover the truth with probability "
        "LEVEL (e.g. 0.9; GTM's posterior, else a bootstrap of the workers' residuals seeded by --seed)",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="with --intervals and --gold: scale the intervals so that the gold tasks are covered at LEVEL (real "
        "crowds err together, which the answers' noise alone does not show)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=200,
        metavar="N",
        help="replicates of the bootstrap behind --intervals (default 200)",
    )
    parser.add_argument(
        "--warm-start",
        metavar="STATE",
        help="continue the fit saved in STATE (by --save-state, same method and parameters): ANSWERS are added "
        "to its answers and the fit starts from its estimates",
    )
    parser.add_argument(
        "--save-state",
        metavar="FILE",
        help="save the fit's state (answers, estimates, weights; a versioned ZIP of Parquet tables) to continue "
        "it later with --warm-start",
    )
    parser.add_argument(
        "--workers-out",
        metavar="FILE",
        help="write the worker report to this CSV/Parquet file: one row per worker (weight, weight share, "
        "answers, mean absolute deviation, gold record, flagged), flagged workers first",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object with the run's figures")
    add_defense_arguments(parser, ("--defense", "aggregate with this defense around the method"), k=True)
    add_cluster_arguments(parser, "aggregate")
    parser.set_defaults(run=run)


def _worker_weights(path: str) -> Any:
    table = read_table(path, "weights")
    missing = [c for c in ("worker", "weight") if c not in table.columns]
    if missing:
        raise InputError(f"weights file is missing column(s) {', '.join(missing)}; give columns worker, weight")
    return table.set_index("worker")["weight"]


def _screen_factor(text: str) -> float:
    try:
        factor = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(factor) and factor > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return factor


def _level(text: str) -> float:
    try:
        level = float(text)
    except ValueError:
        level = math.nan
    if not 0 < level < 1:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1 (e.g. 0.9), got {text!r}")
    return level


def _gold(args: argparse.Namespace, tasks: pd.Index) -> pd.Series | None:
    if args.gold is None:
        if args.gold_screen is not None:
            raise InputError("--gold-screen needs --gold FILE (columns task, truth)")
        return None
    frame = read_table(args.gold, "gold")
    return task_values_from_frame(frame, "truth", tasks, source=f"gold file {args.gold!r}")


def run(args: argparse.Namespace) -> int:
    params = parse_assignments(args.param, "--param")
    aggregator = make_aggregator(args.method, **params)
    if args.weights is not None:
        if not isinstance(aggregator, Mean | Median):
            raise InputError(f"--weights applies to the mean and median methods, not {args.method!r}")
        aggregator.set_params(weights=_worker_weights(args.weights))
    method = aggregator
    aggregator = make_defended(args.defense, method, args)
    with cluster_client(args) as client:
        if client is not None:
            from truthguard.distributed import require_supported

            require_supported(aggregator)  # before any answer is read
            for flag, value in (
                ("--gold", args.gold),
                ("--workers-out", args.workers_out),
                ("--intervals", args.intervals),
                ("--warm-start", args.warm_start),
                ("--save-state", args.save_state),
            ):
                if value is not None:
                    raise InputError(
                        f"{flag} is not supported on a Dask cluster yet; aggregate without --dask/--scheduler"
                    )
        if args.calibrate and (args.intervals is None or args.gold is None):
            raise InputError("--calibrate needs --intervals LEVEL and --gold FILE (the gold tasks calibrate them)")
        if args.bootstrap < 2:
            raise InputError(f"--bootstrap must be at least 2, got {args.bootstrap}")
        if args.workers_out == "-" and (args.output == "-" or args.json):
            raise InputError("--workers-out - would share standard output with the estimates or --json; give a file")
        previous = None
        if args.warm_start is not None:
            previous = aggregator.load_state(args.warm_start)._answers_of_fit("--warm-start").n_answers
        data: Input[Any] = load_input(args) if client is None else load_on_cluster(args, client)
        gold = _gold(args, data.answers.tasks) if isinstance(data.answers, Answers) else None
        started = time.perf_counter()
        with recorded_warnings() as notes:
            if isinstance(data.answers, Answers):
                screen = False if args.gold_screen is None else args.gold_screen
                update = aggregator.fit if previous is None else aggregator.partial_fit
                update(data.answers, gold=gold, gold_screen=screen)
            else:
                from truthguard.distributed import fit  # an optional extra

                fit(aggregator, data.answers, client)
        seconds = time.perf_counter() - started
    estimates = aggregator.truths_
    table = estimates.reset_index()
    if args.intervals is not None:
        interval = aggregator.predict_interval(
            args.intervals, n_bootstrap=args.bootstrap, random_state=args.seed, calibrate=args.calibrate
        )
        table = table.assign(low=interval["low"].to_numpy(), high=interval["high"].to_numpy())
    written = write_output(table, args.output)
    workers_written = None if args.workers_out is None else write_output(aggregator.workers_report(), args.workers_out)
    if args.save_state is not None:
        aggregator.save_state(args.save_state)
    truth = data.truth
    if truth is not None and gold is not None:  # gold tasks are exact by construction: scored apart
        truth = truth.drop(gold.index, errors="ignore")
    scores = evaluate(estimates, truth) if truth is not None and len(truth) else None
    defense = None
    if aggregator is not method:
        defense = {"name": aggregator.name, "params": _params(aggregator, skip="base")}
    summary: dict[str, Any] = {
        "method": method.name,
        "params": _params(method, skip="weights"),
        "defense": defense,
        "input": data.source,
        "n_tasks": len(estimates),
        "n_workers": data.answers.n_workers,
        "n_answers": data.answers.n_answers,
        "cluster": None if args.dask is None and args.scheduler is None else args.dask or args.scheduler,
        "n_iter": aggregator.n_iter_,
        "converged": aggregator.converged_,
        "seconds": round(seconds, 6),
        "output": written,
        "workers_output": workers_written,
        "warm_start": args.warm_start,
        "previous_answers": previous,
        "state_output": args.save_state,
        "intervals": args.intervals,
        "warnings": notes,
    }
    if scores is not None:
        summary.update(mae=scores.mae, rmse=scores.rmse, n_truth=scores.n)
    if gold is not None:
        record, screened = aggregator.gold_record_, aggregator.screened_
        assert record is not None and screened is not None
        summary["gold"] = {
            "tasks": len(gold),
            "factor": DEFAULT_SCREEN_FACTOR if args.gold_screen in (None, True) else args.gold_screen,
            "threshold": record.threshold,
            "flagged": screened["worker"].tolist(),
            "removed": args.gold_screen is not None,
        }
    if isinstance(aggregator, MIE):
        summary["removed"] = list(aggregator.removed_)  # NumPy ids become plain JSON in emit_json
    summary["objective_history"] = aggregator.objective_history_
    on_stdout = "-" if "-" in (written, workers_written) else written  # the summary then goes to stderr
    emit_summary(summary, _summary_lines(summary), args.json, on_stdout)
    return 0


def _params(estimator: Any, skip: str) -> dict[str, Any]:
    """Hyper-parameters for the report, without ``skip`` (reported apart, or a table); a nested estimator
    (``remove``'s detector) as its name and its own parameters."""
    return {
        k: {"name": getattr(v, "name", type(v).__name__), "params": _params(v, skip="base")}
        if isinstance(v, Configurable)
        else v
        for k, v in estimator.get_params(deep=False).items()
        if k != skip
    }


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    defense = summary["defense"]
    lines = [
        f"method      {summary['method']}" + (f" inside the defense {defense['name']}" if defense else ""),
        f"input       {summary['input']}: {summary['n_answers']:,} answers, {summary['n_workers']:,} workers, "
        f"{summary['n_tasks']:,} tasks",
        f"iterations  {summary['n_iter']} ({'converged' if summary['converged'] else 'not converged'}) "
        f"in {summary['seconds']:.3f} s" + (f" on the Dask cluster {summary['cluster']}" if summary["cluster"] else ""),
    ]
    if "mae" in summary:
        lines.append(
            f"accuracy    MAE {summary['mae']:.4f}, RMSE {summary['rmse']:.4f} "
            f"over {summary['n_truth']:,} tasks with truth" + (" (gold tasks left out)" if "gold" in summary else "")
        )
    if "gold" in summary:
        gold = summary["gold"]
        flagged = gold["flagged"]
        shown = ", ".join(str(w) for w in flagged[:10]) + (", ..." if len(flagged) > 10 else "")
        action = "removed" if gold["removed"] else "flagged (not removed: add --gold-screen)"
        lines.append(
            f"gold        {gold['tasks']:,} task(s) kept at their value; {len(flagged)} worker(s) with a mean gold "
            f"error above {gold['threshold']:.4g} ({gold['factor']:g}x the median worker's) {action}"
            + (f": {shown}" if flagged else "")
        )
    if "removed" in summary:
        shown = ", ".join(str(w) for w in summary["removed"][:10]) + (", ..." if len(summary["removed"]) > 10 else "")
        lines.append(f"removed     {len(summary['removed'])} worker(s): {shown or 'none'}")
    if summary["warm_start"] is not None:
        lines.append(
            f"continued   from {summary['warm_start']}: {summary['previous_answers']:,} answers before, "
            f"{summary['n_answers']:,} added"
        )
    if summary["state_output"] is not None:
        lines.append(f"state       saved to {summary['state_output']} (continue with --warm-start)")
    if summary["workers_output"] not in (None, "-"):
        lines.append(f"workers     report written to {summary['workers_output']}")
    if summary["output"] is None:
        lines.append("estimates   not saved (add -o OUT.csv to write them)")
    elif summary["output"] != "-":
        lines.append(f"estimates   written to {summary['output']}")
    return lines
