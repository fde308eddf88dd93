"""The attack protocol: ``attack.poison(answers, bounds, aggregator, random_state) -> PoisonedAnswers``."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.aggregators.base import Aggregator, require_aggregator
from truthguard.attacks.problem import AttackProblem, PoisonedAnswers
from truthguard.attacks.threat import ThreatModel
from truthguard.core.answers import Answers
from truthguard.core.bounds import Bounds
from truthguard.core.params import NONE, Configurable, Constraint, InstanceOf
from truthguard.core.sampling import RandomState, as_generator
from truthguard.errors import InputError

__all__ = ["Attack"]

FloatArray = npt.NDArray[np.float64]


class Attack(Configurable, ABC):
    """Base class of every attack: add malicious workers whose answers move the aggregator's estimates.

    Subclasses choose the malicious values (:meth:`craft`); the threat model (how many malicious workers,
    which tasks, what the attacker knows and wants) is one :class:`~truthguard.attacks.ThreatModel` shared by
    all. After ``poison``, ``objective_`` is the attacker's objective (see
    :meth:`~truthguard.attacks.problem.AttackProblem.score`) of the values returned, computed on what the
    attacker knows with the converged aggregator (NaN when no aggregator was given), ``stage_`` the stage of
    the search whose candidate was returned (e.g. ``"farm gap n=219 step=1"``; the attack's name for one-stage
    attacks), and ``seconds_`` the wall time.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "threat": [InstanceOf(ThreatModel, "a ThreatModel"), NONE],
    }
    _fit_method = "poison"
    #: Whether ``poison`` needs the target aggregator (white- and black-box attacks do, baselines do not).
    needs_aggregator: ClassVar[bool] = False
    #: Peak memory per answer after poisoning, in bytes, for the check before an attack starts (measured on
    #: synthetic data from 1 to 5.5 million answers: 144 for the baselines against CRH; rounded up).
    memory_per_answer: ClassVar[float] = 160.0

    objective_: float
    stage_: str
    seconds_: float

    def __init__(self, threat: ThreatModel | None = None) -> None:
        self.threat = threat

    def poison(
        self,
        answers: Answers | pd.DataFrame,
        bounds: Bounds,
        aggregator: Aggregator | Any | None = None,
        random_state: RandomState = None,
    ) -> PoisonedAnswers:
        """Add the malicious workers of the threat model to ``answers`` and choose their values.

        Args:
            answers: The honest answers (DataFrame with task, worker, value, or :class:`~truthguard.Answers`).
            bounds: Each task's legal range; every malicious value lies within it.
            aggregator: The aggregator under attack (the attacker knows it and its hyper-parameters).
            random_state: Seed (or generator) of every random choice: same seed, same poisoned answers.
        """
        started = time.perf_counter()
        if not isinstance(bounds, Bounds):
            raise InputError(f"bounds must be a truthguard Bounds; got {type(bounds).__name__}")
        if aggregator is None:
            if self.needs_aggregator:
                raise InputError(f"{type(self).__name__} needs the aggregator under attack; pass aggregator=...")
        else:
            require_aggregator(aggregator, foreign=True)
        self._validate_params()
        rng = as_generator(random_state)
        honest = Answers.coerce(answers)
        problem = AttackProblem.build(
            honest, bounds, self.threat or ThreatModel(), aggregator, rng, bytes_per_answer=self.memory_per_answer
        )
        self.stage_ = self.name  # searching attacks name the stage that won
        values = np.asarray(self.craft(problem, aggregator, rng), dtype=np.float64)
        values = np.clip(values, problem.low, problem.high)
        self.objective_ = problem.objective(aggregator, values) if aggregator is not None else float("nan")
        self.seconds_ = time.perf_counter() - started
        return problem.poisoned(values)

    @abstractmethod
    def craft(
        self, problem: AttackProblem, aggregator: Aggregator | Any | None, rng: np.random.Generator
    ) -> FloatArray:
        """One malicious value per slot of ``problem`` (clipped to the bounds afterwards)."""
