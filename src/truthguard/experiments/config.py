"""Experiment files: what to run, read from TOML and checked in full before anything runs.

An experiment is a grid: datasets × aggregators × defenses × attacks × malicious fractions × coverage ×
knowledge × seeds. Every name, key and hyper-parameter is checked when the file is read (each estimator is
built once), so a typo fails in a second with one line naming the table, the key and what is allowed, not
an hour into a sweep.

.. code-block:: toml

    name = "quick"
    seeds = [0, 1]
    fractions = [0.0, 0.1, 0.3]
    coverage = ["all", "mean"]        # tasks per malicious worker: every task, as many as an honest worker, or N
    knowledge = ["full", "partial"]
    known_fraction = 0.5              # partial knowledge: the share of honest workers the attacker knows

    [[dataset]]
    name = "synthetic"
    options = { n_tasks = 300, n_workers = 30 }

    [[aggregator]]
    name = "crh"

    [[defense]]
    name = "none"

    [[defense]]
    name = "mwa"
    params = { n_groups = 5 }

    [[attack]]
    name = "optimized"
    params = { steps = 20 }
    against = "base"                  # crafted against the undefended aggregator (transfer), or "defense"

    [[attack]]
    name = "random"
    knowledge = ["full"]              # an attack table may narrow the grid's knowledge or coverage lists

``detectors = ["combined", "collusion"]`` (top level) scores every worker of each attacked cell with those
detectors (built on the cell's undefended aggregator): the table gets their ROC AUC and F1 (flagging as many
workers as there are attackers), and ``detection.parquet`` the scores, for the ROC curves.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truthguard import datasets
from truthguard.aggregators.base import Aggregator
from truthguard.aggregators.registry import make_aggregator
from truthguard.attacks.base import Attack
from truthguard.attacks.registry import make_attack
from truthguard.attacks.threat import ThreatModel
from truthguard.defenses.detectors import DETECTORS
from truthguard.defenses.registry import make_defense
from truthguard.errors import InputError

__all__ = ["Cell", "Entry", "Experiment", "read_experiment"]

NONE = "none"
KNOWLEDGE = ("full", "partial")
AGAINST = ("base", "defense")
_TOP_KEYS = {
    "name": "the experiment's name",
    "seeds": "list of seeds",
    "fractions": "list of malicious fractions in [0, 0.99]",
    "coverage": 'list of "all", "mean" or a number of tasks',
    "knowledge": 'list of "full", "partial"',
    "known_fraction": "a number in (0, 1]",
    "dataset": "[[dataset]] tables",
    "aggregator": "[[aggregator]] tables",
    "defense": "[[defense]] tables",
    "attack": "[[attack]] tables",
    "detectors": "list of detector names (combined, collusion, ...) that score every attacked cell's workers",
}
_ENTRY_KEYS = {
    "dataset": ("name", "options"),
    "aggregator": ("name", "params"),
    "defense": ("name", "params"),
    "attack": ("name", "params", "against", "knowledge", "coverage"),
}


@dataclass(frozen=True)
class Entry:
    """One dataset, aggregator, defense or attack of the grid: its registry name and its options.

    ``label`` names it in the results table: the name, then the options in the file's order
    (``mwa(n_groups=3)``), so two entries with one name and different options stay apart.
    """

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    against: str = "base"
    knowledge: tuple[str, ...] | None = None  # an attack's own lists, instead of the grid's
    coverage: tuple[int | str | None, ...] | None = None

    @property
    def label(self) -> str:
        if not self.options:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"


@dataclass(frozen=True)
class Cell:
    """One run of the grid: an attack (or none) on one dataset against one (defended) aggregator, one seed."""

    dataset: Entry
    aggregator: Entry
    defense: Entry
    attack: Entry
    fraction: float
    coverage: int | str | None
    knowledge: str
    seed: int

    @property
    def key(self) -> str:
        """A stable text identity, the same in every run of the same file (what resuming matches on)."""
        parts = [self.dataset.label, self.aggregator.label, self.defense.label, self.attack.label]
        if self.attack.name != NONE:
            parts += [f"against={self.attack.against}", f"f={self.fraction:g}",
                      f"coverage={self.coverage or 'all'}", f"knowledge={self.knowledge}"]  # fmt: skip
        return " | ".join([*parts, f"seed={self.seed}"])


@dataclass(frozen=True)
class Experiment:
    """A checked experiment grid (see the module's documentation for the file format)."""

    name: str
    datasets: tuple[Entry, ...]
    aggregators: tuple[Entry, ...]
    defenses: tuple[Entry, ...]
    attacks: tuple[Entry, ...]
    fractions: tuple[float, ...]
    coverage: tuple[int | str | None, ...]
    knowledge: tuple[str, ...]
    known_fraction: float
    seeds: tuple[int, ...]
    detectors: tuple[str, ...] = ()

    def cells(self) -> list[Cell]:
        """Every run, in a fixed order. A fraction of 0 is one clean cell per dataset, method and seed (no
        attacker, so attack, coverage and knowledge do not apply); so is an experiment without attacks."""
        out: list[Cell] = []
        clean = Entry(NONE)
        for data, aggregator, defense, seed in itertools.product(
            self.datasets, self.aggregators, self.defenses, self.seeds
        ):
            if 0.0 in self.fractions or not self.attacks:
                out.append(Cell(data, aggregator, defense, clean, 0.0, None, "full", seed))
            for attack in self.attacks:
                if attack.against == "defense" and defense.name == NONE:
                    continue  # the same as against the base: run once
                for fraction, coverage, knowledge in itertools.product(
                    [f for f in self.fractions if f > 0],
                    attack.coverage or self.coverage,
                    attack.knowledge or self.knowledge,
                ):
                    out.append(Cell(data, aggregator, defense, attack, fraction, coverage, knowledge, seed))
        return out

    def threat(self, cell: Cell) -> ThreatModel:
        """The threat model of an attacked cell."""
        coverage = None if cell.coverage == "all" else cell.coverage
        return ThreatModel(
            fraction=cell.fraction, tasks_per_worker=coverage, knowledge=cell.knowledge,  # type: ignore[arg-type]
            known_fraction=self.known_fraction,
        )  # fmt: skip

    def build(self, cell: Cell, n_honest: int | None = None) -> tuple[Aggregator, Aggregator, Attack | None]:
        """Fresh estimators for a cell: the undefended aggregator, the one measured (the defense around it,
        or the aggregator itself) and the attack (None for a clean cell).

        A removing defense (MIE, ``remove``) whose ``params`` leave out ``n_malicious`` assumes the cell's
        number of malicious workers among ``n_honest`` honest ones (0 in a clean cell; its clean error with
        the attacked cells' k is their ``mae_before``).
        """
        base = make_aggregator(cell.aggregator.name, **cell.aggregator.options)
        judged = base
        if cell.defense.name != NONE:
            assumed = {}
            if n_honest is not None:
                assumed["n_malicious"] = 0 if cell.attack.name == NONE else self.threat(cell).n_malicious_for(n_honest)
            judged = make_defense(cell.defense.name, base.clone(), assumed, **cell.defense.options)
        attack = None
        if cell.attack.name != NONE:
            attack = make_attack(cell.attack.name, self.threat(cell), **cell.attack.options)
        return base, judged, attack

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration, defaults filled in, in the file's shape (what a results folder keeps)."""
        return {
            "name": self.name,
            "seeds": list(self.seeds),
            "fractions": list(self.fractions),
            "coverage": ["all" if c is None else c for c in self.coverage],
            "knowledge": list(self.knowledge),
            "known_fraction": self.known_fraction,
            "dataset": [{"name": e.name, "options": dict(e.options)} for e in self.datasets],
            "aggregator": [{"name": e.name, "params": dict(e.options)} for e in self.aggregators],
            "defense": [{"name": e.name, "params": dict(e.options)} for e in self.defenses],
            "attack": [_attack_table(e) for e in self.attacks],
            "detectors": list(self.detectors),
        }


def _attack_table(entry: Entry) -> dict[str, Any]:
    table: dict[str, Any] = {"name": entry.name, "params": dict(entry.options), "against": entry.against}
    if entry.knowledge is not None:
        table["knowledge"] = list(entry.knowledge)
    if entry.coverage is not None:
        table["coverage"] = ["all" if c is None else c for c in entry.coverage]
    return table


def read_experiment(source: str | Path | Mapping[str, Any]) -> Experiment:
    """Read and check an experiment: a TOML file's path, or the parsed table itself.

    Raises:
        InputError: An unreadable file, invalid TOML, an unknown key, name or hyper-parameter, or a value of
            the wrong kind; the message names where (``[[attack]] 2``), the key, and what is allowed.
    """
    if isinstance(source, Mapping):
        where, data = "experiment", dict(source)
    else:
        path = Path(source)
        where = f"experiment file {str(path)!r}"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{where} does not exist; check the path") from None
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"{where} cannot be read ({error}); give a UTF-8 TOML file") from None
        except tomllib.TOMLDecodeError as error:
            raise InputError(f"{where} is not valid TOML: {error}") from None
    return _Checker(where).experiment(data)


class _Checker:
    """Turns the parsed TOML into an :class:`Experiment`, or raises the first problem as one line."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, message: str) -> InputError:
        return InputError(f"{self.where}: {message}")

    def experiment(self, data: dict[str, Any]) -> Experiment:
        unknown = [k for k in data if k not in _TOP_KEYS]
        if unknown:
            raise self.fail(f"unknown key {unknown[0]!r}; allowed: {', '.join(_TOP_KEYS)}")
        for table in ("dataset", "aggregator"):
            if not data.get(table):
                raise self.fail(f'no [[{table}]] table; add at least one, e.g. [[{table}]] name = "..."')
        name = data.get("name", "experiment")
        if not isinstance(name, str) or not name:
            raise self.fail(f"name must be a non-empty string; got {name!r}")
        seeds = self.numbers("seeds", data.get("seeds", [0]), integer=True, low=0)
        fractions = self.numbers("fractions", data.get("fractions", [0.0]), low=0, high=0.99)
        known = data.get("known_fraction", 0.5)
        if isinstance(known, bool) or not isinstance(known, int | float) or not 0 < known <= 1:
            raise self.fail(f"known_fraction must be a number in (0, 1]; got {known!r}")
        experiment = Experiment(
            name=name,
            datasets=self.entries(data, "dataset"),
            aggregators=self.entries(data, "aggregator"),
            defenses=self.entries(data, "defense", default=[{"name": NONE}]),
            attacks=self.entries(data, "attack", default=[]),
            fractions=tuple(float(f) for f in fractions),
            coverage=self.coverages("coverage", data.get("coverage", ["all"])),
            knowledge=self.knowledges("knowledge", data.get("knowledge", ["full"])),
            known_fraction=float(known),
            seeds=tuple(int(s) for s in seeds),
            detectors=self.detectors(data.get("detectors", [])),
        )
        self.build_once(experiment)
        return experiment

    def listed(self, key: str, value: Any) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.fail(f"{key} must be a non-empty list; got {value!r}")
        if len(set(map(repr, value))) < len(value):
            raise self.fail(f"{key} lists a value twice: {value!r}")
        return value

    def numbers(self, key: str, value: Any, *, integer: bool = False, low: float, high: float = math.inf) -> list[Any]:
        kind = "integers" if integer else "numbers"
        for item in self.listed(key, value):
            ok = isinstance(item, int) if integer else isinstance(item, int | float)
            if isinstance(item, bool) or not ok or not low <= item <= high:
                bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
                raise self.fail(f"{key} must be {kind} {bounds}; got {item!r}")
        return list(value)

    def choice(self, key: str, value: Any, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(f"unknown {key} {value!r}; choose one of {', '.join(allowed)}")
        return str(value)

    def coverages(self, key: str, value: Any) -> tuple[int | str | None, ...]:
        out: list[int | str | None] = []
        for item in self.listed(key, value):
            if item in ("all", "mean"):
                out.append(None if item == "all" else "mean")
            elif isinstance(item, int) and not isinstance(item, bool) and item > 0:
                out.append(item)
            else:
                raise self.fail(f'{key} must list "all", "mean" or a positive number of tasks; got {item!r}')
        return tuple(out)

    def detectors(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or len(set(map(repr, value))) < len(value):
            raise self.fail(f"detectors must be a list of distinct detector names; got {value!r}")
        return tuple(self.choice("detector", name, tuple(DETECTORS)) for name in value)

    def knowledges(self, key: str, value: Any) -> tuple[str, ...]:
        return tuple(self.choice(key, k, KNOWLEDGE) for k in self.listed(key, value))

    def entries(
        self, data: dict[str, Any], table: str, default: list[dict[str, Any]] | None = None
    ) -> tuple[Entry, ...]:
        raw = data.get(table, default)
        if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
            raise self.fail(f"{table} must be [[{table}]] tables; got {raw!r}")
        out: list[Entry] = []
        for number, item in enumerate(raw, 1):
            at = f"[[{table}]] {number}"
            allowed = _ENTRY_KEYS[table]
            unknown = [k for k in item if k not in allowed]
            if unknown:
                raise self.fail(f"{at}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")
            name = item.get("name")
            if not isinstance(name, str) or not name:
                raise self.fail(f"{at}: name must be a non-empty string; got {name!r}")
            options = item.get(allowed[1], {})
            if not isinstance(options, dict):
                raise self.fail(
                    f"{at}: {allowed[1]} must be a table, e.g. {allowed[1]} = {{ key = 1 }}; got {options!r}"
                )
            against = self.choice(f"{at} against", item.get("against", "base"), AGAINST)
            knowledge = self.knowledges(f"{at} knowledge", item["knowledge"]) if "knowledge" in item else None
            coverage = self.coverages(f"{at} coverage", item["coverage"]) if "coverage" in item else None
            entry = Entry(name.lower(), options, against, knowledge, coverage)
            if entry in out:
                raise self.fail(f"{at}: the same as an earlier [[{table}]]; remove one")
            out.append(entry)
        return tuple(out)

    def build_once(self, experiment: Experiment) -> None:
        """Every name, option and hyper-parameter, checked by building each thing once (no data is read)."""
        for number, data in enumerate(experiment.datasets, 1):
            try:
                valid = datasets.info(data.name).options()
            except InputError as error:
                raise self.fail(f"[[dataset]] {number}: {error}") from None
            unknown = [k for k in data.options if k not in valid]
            if unknown:
                raise self.fail(
                    f"[[dataset]] {number}: {data.name!r} has no option {unknown[0]!r}; "
                    f"valid options: {', '.join(valid) or 'none'}"
                )
        tables = {"aggregator": experiment.aggregators, "defense": experiment.defenses, "attack": experiment.attacks}
        for table, entries in tables.items():
            for number, entry in enumerate(entries, 1):
                try:
                    self.build_entry(experiment, table, entry)
                except InputError as error:
                    raise self.fail(f"[[{table}]] {number}: {error}") from None

    @staticmethod
    def build_entry(experiment: Experiment, table: str, entry: Entry) -> None:
        if table == "aggregator":
            make_aggregator(entry.name, **entry.options)
        elif table == "attack":
            make_attack(entry.name, ThreatModel(fraction=0.1), **entry.options)
        elif entry.name != NONE:  # a defense, around every aggregator of the grid (MWA needs an iterative one)
            for aggregator in experiment.aggregators:
                make_defense(entry.name, make_aggregator(aggregator.name, **aggregator.options), **entry.options)
