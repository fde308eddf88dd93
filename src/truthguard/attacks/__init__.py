"""Data-poisoning attacks: malicious workers whose answers move the aggregated estimates.

Every attack has one verb, ``attack.poison(answers, bounds, aggregator, random_state)``, returning
:class:`PoisonedAnswers` (honest and malicious answers with the malicious mask); the threat model is one
:class:`ThreatModel` shared by all attacks.
"""

from truthguard.attacks.base import Attack
from truthguard.attacks.baselines import MaximumAttack, RandomAttack
from truthguard.attacks.blackbox import BlackBoxAttack
from truthguard.attacks.optimized import OptimizedAttack
from truthguard.attacks.problem import AttackProblem, PoisonedAnswers
from truthguard.attacks.registry import ATTACKS, make_attack
from truthguard.attacks.threat import ThreatModel

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackProblem",
    "BlackBoxAttack",
    "MaximumAttack",
    "OptimizedAttack",
    "PoisonedAnswers",
    "RandomAttack",
    "ThreatModel",
    "make_attack",
]
