"""``truthguard detect``: score every worker by how malicious it looks, and flag the most suspicious."""

from __future__ import annotations

import argparse
from typing import Any

from truthguard.aggregators.registry import AGGREGATORS, make_aggregator
from truthguard.cli.common import (
    add_input_arguments,
    emit_summary,
    load_input,
    parse_assignments,
    write_output,
)
from truthguard.defenses.detectors import DETECTORS, top_workers
from truthguard.defenses.registry import make_detector
from truthguard.metrics import detection

EXAMPLES = """\
examples:
  truthguard attack --dataset emotion --target gtm --fraction 0.1 -o poisoned.csv
  truthguard detect poisoned.csv --method gtm --n 4 --json
  truthguard detect answers.csv --method crh --detector disagreement -o scores.csv
"""


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="score each worker by how malicious it looks and flag the most suspicious",
        description="Score every worker with a detector (larger: more suspicious) built on an aggregation "
        "method, and flag the N highest. When the answers have a 'malicious' column (as 'truthguard attack' "
        "writes them), report precision, recall, F1 and ROC AUC against it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    parser.add_argument(
        "-m", "--method", default="crh", metavar="NAME", help=f"aggregator ({', '.join(AGGREGATORS)}; default crh)"
    )
    parser.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="aggregator hyper-parameter")
    parser.add_argument(
        "--detector",
        default="combined",
        metavar="NAME",
        help=f"detector ({', '.join(DETECTORS)}; default combined)",
    )
    parser.add_argument(
        "--n",
        type=int,
        metavar="K",
        help="workers to flag (default: as many as the 'malicious' column marks, else those scoring above 3.5 "
        "for the combined detector, else none)",
    )
    parser.add_argument("-o", "--output", metavar="OUT", help="write every worker's score (columns worker, score)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the run's figures")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    base = make_aggregator(args.method, **parse_assignments(args.param, "--param"))
    detector = make_detector(args.detector, base)
    name = detector.name
    data = load_input(args)
    scores = detector.score(data.answers)
    if args.n is not None:
        n = args.n
    elif data.malicious is not None:
        n = int(data.malicious.reindex(scores.index).fillna(False).sum())
    else:
        n = int((scores > 3.5).sum()) if name == "combined" else 0  # 3.5 robust standard deviations
    flagged = top_workers(scores, n)
    ranked = scores.sort_values(ascending=False, kind="stable")
    written = write_output(ranked.reset_index(), args.output)
    summary: dict[str, Any] = {
        "detector": name,
        "method": base.name if "base" in detector.get_params(deep=False) else None,
        "input": data.source,
        "n_workers": len(scores),
        "flagged": list(flagged),  # NumPy ids become plain JSON in emit_json
        "top": [{"worker": w, "score": float(v)} for w, v in ranked.head(10).items()],
        "output": written,
    }
    if data.malicious is not None:
        summary.update(detection(scores, data.malicious, flagged).to_dict())
    emit_summary(summary, _summary_lines(summary), args.json, written)
    return 0


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    flagged = summary["flagged"]
    shown = ", ".join(str(w) for w in flagged[:10]) + (", ..." if len(flagged) > 10 else "")
    lines = [
        f"detector    {summary['detector']}{' on ' + summary['method'] if summary['method'] else ''}: "
        f"{summary['n_workers']:,} workers from {summary['input']}",
        f"flagged     {len(flagged)}: {shown or 'none'}",
        "top scores  " + ", ".join(f"{t['worker']} {t['score']:.3g}" for t in summary["top"][:5]),
    ]
    if "roc_auc" in summary:
        lines.append(
            f"against     column malicious ({summary['n_malicious']} workers): precision {summary['precision']:.2f}, "
            f"recall {summary['recall']:.2f}, F1 {summary['f1']:.2f}, ROC AUC {summary['roc_auc']:.3f}"
        )
    if summary["output"] is None:
        lines.append("scores      not saved (add -o SCORES.csv to write them)")
    elif summary["output"] != "-":
        lines.append(f"scores      written to {summary['output']}")
    return lines
