"""Median-of-weighted-average (MWA): the first defense of Fang et al. (WWW 2021)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from truthguard.aggregators.base import Aggregator, IterativeAggregator, _Fit
from truthguard.aggregators.crh import CRH
from truthguard.core.answers import Answers
from truthguard.core.backend import NUMPY, Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.core.params import BOOLEAN, NONE, Constraint, InstanceOf, Interval, Options
from truthguard.core.sampling import as_generator, uniform_stream
from truthguard.core.segments import segment_order, segment_weighted_mean, segment_weighted_median
from truthguard.defenses.base import Defense, FixedPointDefense, fit_kept

__all__ = ["MWA", "WorkerGroupMWA"]

IntArray = npt.NDArray[np.int64]
COMBINATIONS = ("median", "mean")


@dataclass(frozen=True)
class _Partition:
    answer: IntArray  # per (partition, answer) pair: the answer (the answers repeated once per partition)
    group: IntArray  # per pair: its group, numbered by partition, then task, then group within the task
    group_task: IntArray  # per group: partition * n_tasks + task (non-decreasing)
    counts: Array  # answers per group (each at least 1)


class MWA(FixedPointDefense):
    r"""Median of weighted averages: per task, the median of weighted means of random groups of its workers.

    The base truth-discovery method (CRH, GTM, ...) is fitted first and gives each worker :math:`i` a weight
    :math:`w_i`. Then, for each task :math:`m`, the workers :math:`N_m` who answered it are split at random
    into :math:`G` groups :math:`N_m^{(1)}, \dots, N_m^{(G)}` of equal size (give or take one), and

    .. math::
        \hat x_m = \operatorname{median}_{g} \; \frac{\sum_{i \in N_m^{(g)}} w_i x_i^m}{\sum_{i \in N_m^{(g)}} w_i}.

    Malicious workers that hold most of the weight can capture only the groups they sit in, so as long as
    they are a minority of a task's answers, most groups, hence the median, stay honest. That is the seed's
    description of the defense (Fang, Sun, Li, Wang, Gao, "Data Poisoning Attacks and Defenses to
    Crowdsourcing Systems", WWW 2021; paper-reconstruction §5.1): the partition is per task, over the workers
    who answered it, and the weights are the truth-discovery weights.

    Choices where the paper is silent: groups are balanced (a seeded random order of the task's workers,
    dealt round-robin), so a task with fewer than :math:`G` answers has one group per answer (its estimate is
    then the median of its answers); ``n_partitions`` independent partitions are drawn and their estimates
    combined by ``combine`` (median or mean), which removes most of the luck of one draw; a group whose
    weights sum to 0 uses its plain mean. ``weights_`` are the base method's.

    Two options bridge the base method and a robust median. ``n_groups=None`` makes every answer its own
    group; ``weighted_median=True`` weighs each group in the median by its total base weight. Together they
    give the weighted median of the answers with the base method's weights; ``n_groups=1`` gives the base
    method's estimate (one group: its weighted mean). Which construction defends depends on how many of a
    task's answers are malicious: with :math:`G` random groups, a group is contaminated as soon as it holds
    one malicious worker, so once a task has about :math:`G` malicious answers every group is, and the median
    of groups helps no more than the base method (see the README's defense table, measured).

    The estimate is differentiable in the answers for a fixed partition (the seed fixes it), so the optimised
    attack can target MWA itself: its gradient flows through the base method's fixed point and the group means.

    Args:
        base: The truth-discovery method whose weights are used (an iterative aggregator; default ``CRH()``).
        n_groups: Groups :math:`G` per task (odd values give a middle group); None for one group per answer.
        n_partitions: Independent random partitions.
        combine: How the partitions' estimates are combined: ``"median"`` or ``"mean"``.
        weighted_median: Weigh each group in the median by its total base weight.
        random_state: Seed of the partitions (an integer: the same seed, the same partitions).

    Examples:
        >>> from truthguard.aggregators import CRH
        >>> from truthguard.datasets import make_synthetic
        >>> from truthguard.defenses import MWA
        >>> from truthguard.metrics import mae
        >>> data = make_synthetic(n_tasks=200, n_workers=10, seed=0)
        >>> model = MWA(base=CRH(), n_groups=3).fit(data.answers)
        >>> round(mae(model.truths_, data.truth), 2)
        2.4
        >>> model.get_params()["base__max_iter"]
        100
    """

    base: IterativeAggregator
    name = "mwa"
    summary = "defense (Fang et al. WWW 2021): median over random groups of each task's base-weighted averages"
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "base": [InstanceOf(IterativeAggregator, "an iterative aggregator such as CRH() or GTM()")],
        "n_groups": [Interval("integer", 1, None), NONE],
        "n_partitions": [Interval("integer", 1, None)],
        "combine": [Options(COMBINATIONS)],
        "weighted_median": [BOOLEAN],
        "random_state": [Interval("integer", 0, None)],
    }

    def __init__(
        self,
        base: IterativeAggregator | None = None,
        n_groups: int | None = 5,
        n_partitions: int = 1,
        combine: str = "median",
        weighted_median: bool = False,
        random_state: int = 0,
    ) -> None:
        self.base = CRH() if base is None else base
        self.n_groups = n_groups
        self.n_partitions = n_partitions
        self.combine = combine
        self.weighted_median = weighted_median
        self.random_state = random_state

    def _prepare_own(self, claims: Claims) -> _Partition:
        # The partition depends only on how many answers each task has (answers are sorted by task), never on
        # the values: the same constants in NumPy and under differentiation.
        counts = np.asarray(claims.task_counts, dtype=np.int64)
        n_answers, n_tasks = int(counts.sum()), claims.n_tasks
        task = np.repeat(np.arange(n_tasks), counts)
        starts = np.cumsum(counts) - counts
        # Task m has min(G, n_m) groups (None: one per answer), numbered consecutively: no empty segment.
        groups = counts if self.n_groups is None else np.minimum(counts, int(self.n_groups))
        first = np.cumsum(groups) - groups
        total = int(groups.sum())
        partitions = int(self.n_partitions)
        group = np.empty(partitions * n_answers, dtype=np.int64)
        # One seeded stream of uniforms, one per answer and random partition: answers held in pieces of whole
        # tasks (on a cluster) draw their own positions of it, so each piece gets the groups of a fit in one.
        total_answers = n_answers if claims.answers_total is None else claims.answers_total
        for p in range(partitions):
            keys = uniform_stream(int(self.random_state), p * total_answers + claims.answers_before, n_answers)
            order = segment_order(NUMPY, keys, task, n_tasks)  # random order within each task
            rank = np.empty(n_answers, dtype=np.int64)
            rank[order] = np.arange(n_answers) - starts[task[order]]
            group[p * n_answers : (p + 1) * n_answers] = p * total + first[task] + rank % groups[task]
        return _Partition(
            answer=np.tile(np.arange(n_answers), partitions),
            group=group,
            group_task=np.repeat(np.arange(partitions * n_tasks), np.tile(groups, partitions)),
            counts=np.bincount(group, minlength=partitions * total).astype(np.float64),
        )

    def _combine(self, be: ArrayBackend, claims: Claims, prep: _Partition, weights: Array) -> Array:
        """The median (over groups) of the groups' weighted averages."""
        xp = be.xp
        answer, group, group_task = (xp.asarray(a) for a in (prep.answer, prep.group, prep.group_task))
        values = claims.value[answer]
        n_segments = prep.counts.shape[0]
        plain = be.segment_sum(values, group, n_segments) / xp.asarray(prep.counts)
        per_answer = weights[answer]
        means = segment_weighted_mean(be, values, per_answer, group, n_segments, plain)
        partitions = int(self.n_partitions)
        group_weight = be.segment_sum(per_answer, group, n_segments) if self.weighted_median else None
        per_partition = segment_weighted_median(be, means, group_weight, group_task, partitions * claims.n_tasks)
        return _combine_partitions(xp, per_partition.reshape(partitions, claims.n_tasks), self.combine)


def _combine_partitions(xp: Any, per_partition: Array, combine: str) -> Array:
    """Several partitions' estimates (one row each) combined per task: their median or their mean."""
    return xp.mean(per_partition, axis=0) if combine == "mean" else xp.median(per_partition, axis=0)


class WorkerGroupMWA(Defense):
    r"""The other reading of MWA: the whole base method run inside each of :math:`G` groups of workers, then
    the median, per task, of the groups' estimates.

    The workers are dealt at random into :math:`G` groups :math:`W_1, \dots, W_G` of equal size (give or take
    one) once for all tasks; the base method is fitted on the answers of each group alone, giving
    :math:`\hat x_m^{(g)}` for the tasks the group answered, and

    .. math:: \hat x_m = \operatorname{median}_{g \,:\, N_m \cap W_g \neq \emptyset} \hat x_m^{(g)}.

    Fang et al. (WWW 2021) describe MWA as a median of weighted averages over groups of workers
    (paper-reconstruction §5.1); :class:`MWA` splits each task's workers, this class splits the crowd, so each
    group's weights are learnt from that group's answers only: malicious workers earn weight only inside the
    groups they sit in. Choices where the paper is silent: balanced groups (at most one per worker: a larger
    :math:`G` is lowered to the number of workers); a task answered by one group
    takes that group's estimate; ``n_partitions`` independent partitions combined by ``combine``;
    ``weights_`` are each worker's weight in its own group's fit, averaged over the partitions (the base
    method's units). Not differentiable (its estimate comes from :math:`G` separate fits): attack it with
    the black-box attack.

    Args:
        base: The truth-discovery method fitted in each group (default ``CRH()``).
        n_groups: Groups :math:`G` of workers (odd values give a middle group).
        n_partitions: Independent random partitions of the workers.
        combine: How the partitions' estimates are combined: ``"median"`` or ``"mean"``.
        random_state: Seed of the partitions.

    Examples:
        >>> from truthguard.aggregators import CRH
        >>> from truthguard.datasets import make_synthetic
        >>> from truthguard.defenses import WorkerGroupMWA
        >>> from truthguard.metrics import mae
        >>> data = make_synthetic(n_tasks=200, n_workers=15, seed=0)
        >>> model = WorkerGroupMWA(base=CRH(), n_groups=3).fit(data.answers)
        >>> round(mae(model.truths_, data.truth), 2), round(mae(CRH().fit_predict(data.answers), data.truth), 2)
        (1.45, 1.41)
    """

    name = "mwa-workers"
    summary = "MWA's other reading: the base method fitted in each random group of workers, median per task"
    differentiable = False  # G separate fits: attack it with the black-box attack
    _parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {
        "base": [InstanceOf(Aggregator, "an aggregator such as CRH() or GTM()")],
        "n_groups": [Interval("integer", 1, None)],
        "n_partitions": [Interval("integer", 1, None)],
        "combine": [Options(COMBINATIONS)],
        "random_state": [Interval("integer", 0, None)],
    }

    def __init__(
        self,
        base: Aggregator | None = None,
        n_groups: int = 5,
        n_partitions: int = 1,
        combine: str = "median",
        random_state: int = 0,
    ) -> None:
        self.base = CRH() if base is None else base
        self.n_groups = n_groups
        self.n_partitions = n_partitions
        self.combine = combine
        self.random_state = random_state

    def _fit(self, answers: Answers) -> _Fit:
        n_groups = min(int(self.n_groups), answers.n_workers)
        partitions, n_tasks = int(self.n_partitions), answers.n_tasks
        rng = as_generator(int(self.random_state))
        estimates: list[np.ndarray] = []
        cells: list[np.ndarray] = []  # per estimate: partition * n_tasks + task
        weights = np.zeros(answers.n_workers)
        n_iter, converged, history = 0, True, []
        for p in range(partitions):
            group = rng.permutation(answers.n_workers) % n_groups
            for g in range(n_groups):
                keep = group == g
                present = np.bincount(answers.task[keep[answers.worker]], minlength=n_tasks) > 0
                if not present.any():
                    continue
                fit = fit_kept(self.base, answers, keep)
                estimates.append(fit.truths[present])
                cells.append(p * n_tasks + np.flatnonzero(present))
                weights += fit.weights / partitions
                n_iter, converged = max(n_iter, fit.n_iter), converged and fit.converged
                history = fit.history
        per_partition = segment_weighted_median(
            NUMPY, np.concatenate(estimates), None, np.concatenate(cells), partitions * n_tasks
        )
        truths = _combine_partitions(np, per_partition.reshape(partitions, n_tasks), str(self.combine))
        return _Fit(np.asarray(truths), weights, n_iter, converged, history)
