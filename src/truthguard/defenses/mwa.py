"""Median-of-weighted-average (MWA): the first defense of Fang et al. (WWW 2021)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from truthguard.aggregators.base import IterativeAggregator
from truthguard.aggregators.crh import CRH
from truthguard.core.backend import NUMPY, Array, ArrayBackend
from truthguard.core.claims import Claims
from truthguard.core.params import BOOLEAN, NONE, Constraint, InstanceOf, Interval, Options
from truthguard.core.sampling import as_generator
from truthguard.core.segments import segment_weighted_mean, segment_weighted_median
from truthguard.defenses.base import FixedPointDefense

__all__ = ["MWA"]

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
        rng = as_generator(int(self.random_state))
        partitions = int(self.n_partitions)
        group = np.empty(partitions * n_answers, dtype=np.int64)
        for p in range(partitions):
            order = NUMPY.segment_argsort(rng.random(n_answers), task, n_tasks)  # random order within each task
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
        per_partition = per_partition.reshape(partitions, claims.n_tasks)
        if self.combine == "mean":
            return xp.mean(per_partition, axis=0)
        return xp.median(per_partition, axis=0)
