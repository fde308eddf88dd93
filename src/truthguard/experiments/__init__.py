"""Experiments: attacks run against aggregators and measured (before/after error, deviation, shares), and
experiment files (grids of datasets, methods, defenses, attacks, fractions and seeds) read and checked,
and the vulnerability audit of a platform's own answers."""

from truthguard.experiments.audit import Audit, audit
from truthguard.experiments.config import Cell, Entry, Experiment, read_experiment
from truthguard.experiments.evaluate import AttackReport, run_attack

__all__ = ["AttackReport", "Audit", "Cell", "Entry", "Experiment", "audit", "read_experiment", "run_attack"]
