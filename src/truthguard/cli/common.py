"""Shared pieces of the command line: option parsing, input loading and output formatting."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pandas as pd

from truthguard.core.answers import DUPLICATE_POLICIES, Answers
from truthguard.core.bounds import Bounds
from truthguard.core.io import read_bounds, read_table, read_truth, write_table
from truthguard.core.labels import show
from truthguard.core.output import STANDARD_STREAM, json_values, open_output
from truthguard.datasets import base as datasets
from truthguard.errors import InputError, TruthGuardWarning

__all__ = [
    "Input",
    "add_input_arguments",
    "add_quiet_argument",
    "echo",
    "emit_json",
    "emit_summary",
    "given_truth_and_bounds",
    "load_dataset",
    "load_input",
    "parse_assignments",
    "parse_scalar",
    "recorded_warnings",
    "warning_line",
    "write_output",
]


# A negative number in any notation Python's float() reads: -5, -1e3, -1E+3, -.5, -5., -1_000, -inf, -nan.
# argparse itself knows only -5 and -0.5 (Python 3.11), so `--bounds -1e3 1e3` read -1e3 as an option.
_NEGATIVE_NUMBER = re.compile(
    r"^-(?:(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?|inf(?:inity)?|nan)$", re.IGNORECASE
)


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, ``truthguard: error: <problem>; <fix>``, with
    status 2, and which reads negative numbers in any notation as values, not options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str) -> Any:
        self.exit(2, f"truthguard: error: {message}; see '{self.prog} --help'\n")


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


def parse_tasks_per_worker(text: str | None) -> int | str | None:
    """``--tasks-per-worker``: None (every task), ``"mean"``, or a number of tasks."""
    if text is None or text == "mean":
        return text
    try:
        return int(text)
    except ValueError:
        raise InputError(f"--tasks-per-worker takes a positive integer or 'mean'; got {text!r}") from None


def _seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if seed < 0:
        raise argparse.ArgumentTypeError(f"the seed must be an integer >= 0, got {text!r}")
    return seed


#: The answers' form: in this process (:class:`~truthguard.Answers`) or on a cluster.
AnswersT = TypeVar("AnswersT")


@dataclass(frozen=True)
class Input(Generic[AnswersT]):
    """Answers to work on, with the truth and bounds that came with them or were given."""

    answers: AnswersT
    truth: pd.Series | None
    bounds: Bounds | None
    source: str
    #: Per worker, whether it is malicious, when the answers file has a ``malicious`` column (as written by
    #: ``truthguard attack``).
    malicious: pd.Series | None = None


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet``: no progress bars (they show on a terminal only, never in pipes or JSON)."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars on standard error")


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
        type=_seed,
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
    add_quiet_argument(parser)
    parser.add_argument(
        "--on-duplicate",
        choices=DUPLICATE_POLICIES,
        default="error",
        help="what to do when a worker answered a task twice (default: error)",
    )


def load_input(args: argparse.Namespace) -> Input[Answers]:
    """Read the answers (file or dataset), truth and bounds the options name, and check them together."""
    malicious: pd.Series | None = None
    dataset = load_dataset(args)
    if dataset is not None:
        frame, truth, bounds, source = dataset
        answers = Answers.from_frame(frame, on_duplicate=args.on_duplicate)
    else:
        frame = read_table(args.answers, "answers")
        answers = Answers.from_frame(frame, on_duplicate=args.on_duplicate)
        malicious = _malicious_labels(frame)
        truth, bounds, source = None, None, str(args.answers)
    truth, bounds = given_truth_and_bounds(args, answers.tasks, truth, bounds)
    if bounds is not None:
        bounds.check(answers)
    return Input(answers=answers, truth=truth, bounds=bounds, source=source, malicious=malicious)


def load_dataset(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.Series | None, Bounds | None, str] | None:
    """The built-in dataset ``--dataset`` names (answer table, truth, bounds, a name for reports), or None when
    the answers come from a file; exactly one of the two must be given."""
    if (args.answers is None) == (args.dataset is None):
        raise InputError("give either an ANSWERS file or --dataset NAME (exactly one)")
    options = parse_assignments(args.dataset_option, "--dataset-option")
    if args.dataset is None:
        if options:
            raise InputError("--dataset-option applies only with --dataset")
        return None
    spec = datasets.info(args.dataset)
    if args.seed is not None and "seed" in spec.options():
        options.setdefault("seed", args.seed)
    data = datasets.load(spec.name, **options)
    return data.answers, data.truth, data.bounds, f"dataset {spec.name}"


def given_truth_and_bounds(
    args: argparse.Namespace, tasks: pd.Index, truth: pd.Series | None, bounds: Bounds | None
) -> tuple[pd.Series | None, Bounds | None]:
    """The truth and bounds of ``--truth`` and ``--bounds``/``--bounds-file`` when given (the truth's tasks
    checked against ``tasks``), else those that came with the answers."""
    if args.truth is not None:
        truth = read_truth(args.truth, tasks)
    if args.bounds is not None:
        bounds = Bounds(*args.bounds)
    elif args.bounds_file is not None:
        bounds = read_bounds(args.bounds_file)
    return truth, bounds


def _malicious_labels(frame: pd.DataFrame) -> pd.Series | None:
    """Per worker, the ``malicious`` column (true/false, 1/0), which must agree across a worker's rows."""
    if "malicious" not in frame.columns:
        return None
    column = frame["malicious"]
    if column.dtype != bool:
        words = column.astype(str).str.strip().str.lower()
        known = words.isin(["true", "false", "1", "0"])
        if not known.all():
            raise InputError(
                f"column malicious must be true/false or 1/0; got {show(column[~known].iloc[0])}: "
                "use the file 'truthguard attack' wrote, or drop the column"
            )
        column = words.isin(["true", "1"])
    per_worker = pd.Series(column.to_numpy(), index=frame["worker"].to_numpy()).groupby(level=0)
    mixed = per_worker.nunique() > 1
    if mixed.any():
        raise InputError(f"worker {show(mixed.index[mixed][0])} is marked both malicious and not; fix column malicious")
    return per_worker.first().astype(bool)


def write_output(frame: pd.DataFrame, output: str | None) -> str | None:
    """Write ``frame`` to ``output`` (``-`` is standard output); returns the path written, if any."""
    if output is None:
        return None
    write_table(frame, output)
    return output if output == "-" else str(Path(output))


def echo(text: str, *, to_stderr: bool = False) -> None:
    """Print ``text`` and a newline now; a failed write to standard output is an :class:`OutputError`.

    Standard output is flushed at once (through :func:`~truthguard.core.output.open_output`), so a full disk
    or a closed standard output fails here with one clear line, not at exit.
    """
    if to_stderr:
        with contextlib.suppress(OSError, AttributeError):
            print(text, file=sys.stderr, flush=True)
        return
    with open_output(STANDARD_STREAM) as stream:
        stream.write(f"{text}\n".encode())


def warning_line(message: object) -> str:
    """How the command line shows a warning about results: one line on standard error."""
    return f"truthguard: warning: {message}"


@contextlib.contextmanager
def recorded_warnings() -> Iterator[list[str]]:
    """Collect the TruthGuard warnings raised in the block (for the JSON summary), and show each as one line."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruthGuardWarning)
        yield notes
    for warning in caught:
        if issubclass(warning.category, TruthGuardWarning):
            notes.append(str(warning.message))
            echo(warning_line(warning.message), to_stderr=True)


def emit_summary(summary: dict[str, Any], lines: list[str], as_json: bool, written: str | None) -> None:
    """Report a run: ``summary`` as JSON or ``lines`` as text, on stderr when stdout carries the data (``-o -``)."""
    if as_json:
        emit_json(summary, to_stderr=written == "-")
    else:
        echo("\n".join(lines), to_stderr=written == "-")


def emit_json(payload: dict[str, Any], to_stderr: bool = False) -> None:
    """Print one JSON object on standard output, or error when it carries data (NaN and infinities: null)."""
    echo(json.dumps(json_values(payload), indent=2), to_stderr=to_stderr)


def add_defense_arguments(parser: argparse.ArgumentParser, *options: tuple[str, str], k: bool = False) -> None:
    """The defense options: ``options`` are (flag, help) pairs naming defenses (``--defense``, and for attacks
    ``--evaluate-defense``), plus the defenses' own settings; ``k`` adds ``--n-malicious`` for MIE (the attack
    command has its own, the threat's, which MIE then assumes)."""
    from truthguard.defenses.registry import DEFENSES

    group = parser.add_argument_group("defense")
    for flag, text in options:
        group.add_argument(flag, metavar="NAME", help=f"{text} ({', '.join(DEFENSES)}; see 'truthguard methods')")
    group.add_argument(
        "--groups", metavar="G", help="MWA: groups per task, or 'each' for one group per answer (default 5)"
    )
    if k:
        group.add_argument(
            "--n-malicious", dest="k_for_defense", type=int, metavar="K", help="MIE, remove: how many workers to remove"
        )
    group.add_argument(
        "--defense-param",
        action="append",
        metavar="KEY=VALUE",
        help="defense hyper-parameter, repeatable (e.g. n_partitions=5, weighted_median=true)",
    )


def make_defended(name: str | None, base: Any, args: argparse.Namespace, **assumed: Any) -> Any:
    """``base`` wrapped in the defense ``name`` with the command line's defense settings; ``base`` itself when
    ``name`` is None. ``assumed`` are values the defense takes when it has such a parameter and the command
    line did not set it (an attack's number of malicious workers, for MIE). Settings without any defense named
    on the command line, or that the defense does not have, are refused."""
    from truthguard.defenses.registry import make_defense

    params = parse_assignments(args.defense_param, "--defense-param")
    if args.groups is not None:
        params["n_groups"] = _groups(args.groups)
    if getattr(args, "k_for_defense", None) is not None:
        params.setdefault("n_malicious", args.k_for_defense)
    if params and not any(getattr(args, flag, None) for flag in ("defense", "evaluate_defense")):
        raise InputError(
            "--groups, --n-malicious and --defense-param set a defense's hyper-parameters: add --defense NAME"
        )
    if name is None:
        return base
    return make_defense(name, base.clone(), assumed, **params)


def _groups(text: str) -> int | None:
    if text == "each":
        return None
    try:
        groups = int(text)
    except ValueError:
        groups = 0
    if groups < 1:
        raise InputError(f"--groups takes a positive integer or 'each'; got {text!r}")
    return groups
