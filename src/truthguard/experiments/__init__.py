"""Experiments: attacks run against aggregators and measured (before/after error, deviation, shares)."""

from truthguard.experiments.evaluate import AttackReport, run_attack

__all__ = ["AttackReport", "run_attack"]
