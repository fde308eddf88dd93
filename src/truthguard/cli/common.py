"""Shared pieces of the command line: option parsing, input loading and output formatting."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from truthguard.core.answers import DUPLICATE_POLICIES, Answers
from truthguard.core.bounds import Bounds
from truthguard.core.io import read_answers, read_bounds, read_truth, write_table
from truthguard.datasets import base as datasets
from truthguard.errors import InputError

__all__ = [
    "Input",
    "add_input_arguments",
    "emit_json",
    "emit_summary",
    "load_input",
    "parse_assignments",
    "parse_scalar",
    "write_output",
]


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line and exit with status 2."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def parse_scalar(text: str) -> Any:
    """Turn ``"3"``, ``"0.5"``, ``"true"``, ``"none"``, ``"inf"`` into Python values; anything else stays text."""
    lowered = text.strip().lower()
    named = {"true": True, "false": False, "none": None, "null": None}
    if lowered in named:
        return named[lowered]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if not math.isnan(number) else text


def parse_assignments(items: list[str] | None, option: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``; a malformed item is an :class:`InputError`."""
    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option} takes KEY=VALUE; got {item!r}")
        parsed[key.strip()] = parse_scalar(value)
    return parsed


@dataclass(frozen=True)
class Input:
    """Answers to work on, with the truth and bounds that came with them or were given."""

    answers: Answers
    truth: pd.Series | None
    bounds: Bounds | None
    source: str


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose answers (a file or a dataset), truth and bounds."""
    parser.add_argument(
        "answers",
        nargs="?",
        metavar="ANSWERS",
        help="CSV or Parquet file with columns task, worker, value (or label)",
    )
    parser.add_argument(
        "--dataset",
        metavar="NAME",
        help=f"use a built-in dataset instead of a file ({', '.join(datasets.list_datasets())})",
    )
    parser.add_argument(
        "--dataset-option",
        action="append",
        metavar="KEY=VALUE",
        help="dataset loader option, repeatable (e.g. temperature=high, n_tasks=5000)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="S",
        help="seed of everything random (the synthetic dataset's generator included)",
    )
    parser.add_argument("--truth", metavar="TRUTH", help="CSV or Parquet file with columns task, truth")
    bounds = parser.add_mutually_exclusive_group()
    bounds.add_argument(
        "--bounds",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="legal value range of every task; answers outside it are an error",
    )
    bounds.add_argument("--bounds-file", metavar="FILE", help="per-task bounds: columns task, low, high")
    parser.add_argument(
        "--on-duplicate",
        choices=DUPLICATE_POLICIES,
        default="error",
        help="what to do when a worker answered a task twice (default: error)",
    )


def load_input(args: argparse.Namespace) -> Input:
    """Read the answers (file or dataset), truth and bounds the options name, and check them together."""
    if (args.answers is None) == (args.dataset is None):
        raise InputError("give either an ANSWERS file or --dataset NAME (exactly one)")
    options = parse_assignments(args.dataset_option, "--dataset-option")
    truth: pd.Series | None = None
    bounds: Bounds | None = None
    if args.dataset is not None:
        spec = datasets.info(args.dataset)
        if args.seed is not None and "seed" in spec.options():
            options.setdefault("seed", args.seed)
        data = datasets.load(spec.name, **options)
        answers = Answers.from_frame(data.answers, on_duplicate=args.on_duplicate)
        truth, bounds, source = data.truth, data.bounds, f"dataset {spec.name}"
    else:
        if options:
            raise InputError("--dataset-option applies only with --dataset")
        answers = read_answers(args.answers, on_duplicate=args.on_duplicate)
        source = str(args.answers)
    if args.truth is not None:
        truth = read_truth(args.truth, answers.tasks)
    if args.bounds is not None:
        bounds = Bounds(*args.bounds)
    elif args.bounds_file is not None:
        bounds = read_bounds(args.bounds_file)
    if bounds is not None:
        bounds.check(answers)
    return Input(answers=answers, truth=truth, bounds=bounds, source=source)


def write_output(frame: pd.DataFrame, output: str | None) -> str | None:
    """Write ``frame`` to ``output`` (``-`` is standard output); returns the path written, if any."""
    if output is None:
        return None
    if output == "-":
        frame.to_csv(sys.stdout, index=False)
        return "-"
    write_table(frame, output)
    return str(Path(output))


def emit_summary(summary: dict[str, Any], lines: list[str], as_json: bool, written: str | None) -> None:
    """Report a run: ``summary`` as JSON or ``lines`` as text, on stderr when stdout carries the data (``-o -``)."""
    if as_json:
        emit_json(summary, to_stderr=written == "-")
    else:
        print("\n".join(lines), file=sys.stderr if written == "-" else sys.stdout)


def emit_json(payload: dict[str, Any], to_stderr: bool = False) -> None:
    """Print one JSON object on standard output, or error when it carries data (NaN and infinities: null)."""
    print(json.dumps(_finite(payload), indent=2), file=sys.stderr if to_stderr else sys.stdout)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
