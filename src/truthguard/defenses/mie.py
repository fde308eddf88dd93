"""Maximize influence of estimation (MIE): the second defense of Fang et al. (WWW 2021)."""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from truthguard.aggregators.base import Aggregator, _Fit
from truthguard.aggregators.crh import CRH
from truthguard.core.answers import Answers
from truthguard.core.backend import NUMPY
from truthguard.core.goals import Goal
from truthguard.core.params import NONE, Constraint, InstanceOf, Interval, Options
from truthguard.core.segments import segment_weighted_mean, segment_weighted_mean_without
from truthguard.defenses.base import Defense, fit_kept
from truthguard.errors import InputError

__all__ = ["MIE"]

FloatArray = npt.NDArray[np.float64]
SEARCHES = ("greedy", "top", "exact")


class MIE(Defense):
    r"""Remove the workers whose removal moves the estimates the most, then aggregate the rest.

    The server knows that an attack is under way, that the attacker's goal is to move the estimates
    (deviation), and the number :math:`k` of malicious workers (or an upper bound). With :math:`\hat x(S)` the
    base method's estimate without the workers :math:`S`, it looks for

    .. math::
        S^\star = \arg\max_{|S| = k} \; \sum_m \big| \hat x_m(S) - \hat x_m(\emptyset) \big|,

    the set whose removal has the largest influence on the estimation (the deviation goal of
    :class:`~truthguard.core.goals.Goal`), removes it and returns :math:`\hat x(S^\star)` (Fang, Sun, Li,
    Wang, Gao, "Data Poisoning Attacks and Defenses to Crowdsourcing Systems", WWW 2021; the seed describes
    the knowledge, paper-reconstruction §5.2 the reading implemented here).

    Search (``search``): ``"greedy"`` (the default) removes one worker at a time, each time the one whose
    removal moves the *current* estimate (without the workers removed so far) the most; ``"top"`` removes the
    :math:`k` workers whose removal alone moves the estimate the most (one round of refits instead of
    :math:`k`); ``"exact"`` evaluates
    every set of :math:`k` workers against the estimate on all answers (at most ``exact_limit`` sets). The
    literal set objective above has a flaw that the greedy rounds avoid: removing the honest workers who hold
    the most weight hands the estimates to the attackers and so also moves them a lot. On Emotion at
    f = 0.3 with matched load under the far-bound attack against CRH, greedy rounds measured from the
    original estimate removed 0 of the 16 malicious workers (MAE 54.7, CRH alone 24.3), greedy rounds
    measured from the current estimate remove 14 (MAE 12.9). Every evaluation is a fit of the base method
    warm-started at the previous estimates, which converges in a few iterations. Against CRH the greedy
    rounds may stop short of the last malicious worker: once the others are gone its far-off answers leave it
    almost no weight, so removing it moves little, and an influential honest worker goes instead (harmless to
    the estimates); ``"top"`` ranks every worker while all attackers are present. With
    ``screen`` set, each greedy round refits only the ``screen`` workers of largest first-order influence:
    removing worker :math:`i` from a weighted mean with weights held fixed moves task :math:`m` by
    :math:`w_i (\hat x_m - x_i^m) / (W_m - w_i)`, one pass over the answers for all workers at once.

    Choices where the paper is silent: a task left without answers keeps its estimate on all answers (there
    is nothing else to go on); ``weights_`` are the base method's on the workers kept, 0 for those removed.
    ``influence_`` is each worker's influence when removed alone (first round; the first-order value for
    workers the screen did not refit), ``removed_`` the workers removed, in the order found.

    Args:
        base: The truth-discovery method (default ``CRH()``).
        n_malicious: :math:`k`, the number of workers to remove (0: the base method).
        search: ``"greedy"``, ``"top"`` or ``"exact"``.
        exact_limit: Most sets the ``"exact"`` search may evaluate (beyond it: an error, before any fit).
        screen: Workers refitted per greedy round (None: all).

    Examples:
        >>> from truthguard.aggregators import CRH
        >>> from truthguard.attacks import MaximumAttack, ThreatModel
        >>> from truthguard.datasets import make_synthetic
        >>> from truthguard.defenses import MIE
        >>> data = make_synthetic(n_tasks=100, n_workers=10, seed=0)
        >>> poisoned = MaximumAttack(ThreatModel(n_malicious=2)).poison(data.answers, data.bounds, CRH(), 0)
        >>> model = MIE(base=CRH(), n_malicious=2, search="top").fit(poisoned.answers)
        >>> sorted(model.removed_) == sorted(poisoned.malicious_workers)
        True
    """

    name = "mie"
    summary = "defense (Fang et al. WWW 2021): remove the k workers of largest influence, aggregate the rest"
    differentiable = False  # a discrete choice of workers: attack it with the black-box attack
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "base": [InstanceOf(Aggregator, "an aggregator such as CRH() or GTM()")],
        "n_malicious": [Interval("integer", 0, None)],
        "search": [Options(SEARCHES)],
        "exact_limit": [Interval("integer", 1, None)],
        "screen": [Interval("integer", 1, None), NONE],
    }

    influence_: pd.Series
    removed_: pd.Index

    def __init__(
        self,
        base: Aggregator | None = None,
        n_malicious: int = 1,
        search: str = "greedy",
        exact_limit: int = 500,
        screen: int | None = None,
    ) -> None:
        self.base = CRH() if base is None else base
        self.n_malicious = n_malicious
        self.search = search
        self.exact_limit = exact_limit
        self.screen = screen

    def _fit(self, answers: Answers) -> _Fit:
        k = self._removals(answers)
        n_sets = math.comb(answers.n_workers, k)
        if self.search == "exact" and n_sets > int(self.exact_limit):
            raise InputError(
                f"MIE search='exact' would refit {n_sets:,} sets of {k} among {answers.n_workers} workers, more "
                f"than exact_limit={self.exact_limit}; use search='greedy' or raise exact_limit"
            )
        full = self._refit(answers, np.ones(answers.n_workers, dtype=bool), None)
        first_order = self._first_order(answers, full)
        influence = first_order.copy()
        removed: list[int] = []
        keep = np.ones(answers.n_workers, dtype=bool)
        current = full
        if k and self.search == "exact":
            goal = _deviation_from(full.truths)
            best = -math.inf
            for subset in itertools.combinations(range(answers.n_workers), k):
                trial = np.ones(answers.n_workers, dtype=bool)
                trial[list(subset)] = False
                fit = self._refit(answers, trial, full.truths)
                score = float(goal.score(np, fit.truths))
                if k == 1:
                    influence[subset[0]] = score
                if score > best:
                    best, removed, current = score, list(subset), fit
        rounds = {"greedy": k, "top": min(k, 1), "exact": 0}[self.search]
        for round_ in range(rounds):
            # Each round's influence is measured from the current estimate (the workers removed so far gone).
            scores, chosen, current = self._round(answers, keep, current, first_order)
            if round_ == 0:
                influence[list(scores)] = list(scores.values())
            keep[chosen] = False
            removed.append(chosen)
            if self.screen is not None:
                first_order = self._first_order(answers.select(keep[answers.worker]), current, keep)
        if self.search == "top" and k:
            # The k workers of largest influence when removed alone, removed together.
            removed = [int(w) for w in np.argsort(-influence, kind="stable")[:k]]
            keep = np.ones(answers.n_workers, dtype=bool)
            keep[removed] = False
            current = self._refit(answers, keep, full.truths)
        self.influence_ = pd.Series(influence, index=answers.workers.rename("worker"), name="influence")
        self.removed_ = answers.workers[removed]
        return current if removed else full

    def _round(
        self, answers: Answers, keep: npt.NDArray[np.bool_], current: _Fit, first_order: FloatArray
    ) -> tuple[dict[int, float], int, _Fit]:
        """Each candidate's influence (the move of the current estimate when it leaves too), the most
        influential candidate (the first of equals) and its fit.

        Candidates are the workers kept (the ``screen`` of largest first-order influence, when set)."""
        goal = _deviation_from(current.truths)
        candidates = np.flatnonzero(keep)
        if self.screen is not None and len(candidates) > int(self.screen):
            ranked = np.argsort(-first_order[candidates], kind="stable")
            candidates = np.sort(candidates[ranked[: int(self.screen)]])
        scores: dict[int, float] = {}
        chosen, chosen_fit = -1, current
        for worker in candidates:
            trial = keep.copy()
            trial[worker] = False
            fit = self._refit(answers, trial, current.truths)
            scores[int(worker)] = float(goal.score(np, fit.truths))
            if chosen < 0 or scores[int(worker)] > scores[chosen]:
                chosen, chosen_fit = int(worker), fit
        return scores, chosen, chosen_fit

    def _refit(self, answers: Answers, keep: npt.NDArray[np.bool_], start: FloatArray | None) -> _Fit:
        return fit_kept(self.base, answers, keep, start)

    @staticmethod
    def _first_order(answers: Answers, fit: _Fit, keep: npt.NDArray[np.bool_] | None = None) -> FloatArray:
        r"""Each worker's first-order influence: :math:`\sum_{m \in M_i} |\hat x_m - \hat x_m^{(-i)}|`, the
        change of each weighted mean with fixed weights when worker :math:`i`'s answer leaves it
        (:func:`~truthguard.core.segments.segment_weighted_mean_without`; workers removed already, ``keep``
        false, score 0)."""
        if keep is None:
            keep = np.ones(answers.n_workers, dtype=bool)
        codes = np.flatnonzero(keep)  # worker codes of ``answers`` in the full coding
        per_answer = fit.weights[codes][answers.worker]
        task, n_tasks = answers.task, answers.n_tasks
        estimate = segment_weighted_mean(NUMPY, answers.value, per_answer, task, n_tasks, np.zeros(n_tasks))
        without = segment_weighted_mean_without(NUMPY, answers.value, per_answer, task, n_tasks, estimate)
        moved = estimate[task] - without
        scores = np.zeros(len(keep))
        scores[codes] = np.bincount(answers.worker, weights=np.abs(moved), minlength=len(codes))
        return scores


def _deviation_from(reference: FloatArray) -> Goal:
    """The attacker's goal as the server assumes it: moving the estimates away from ``reference``."""
    return Goal("deviation", reference, np.full(reference.shape, np.nan))
