"""Fitting on a Dask cluster (truthguard.distributed): equal to the in-memory estimators, robust to a lost worker.

Every test runs on one LocalCluster of 2 single-threaded worker processes (as CI has 2 cores). The reference
of every equality is the in-memory estimator on the same answers, fitted independently in this process.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from cli_helpers import Run, assert_input_error, make_runner
from truthguard import Answers
from truthguard import distributed as tgd
from truthguard.aggregators import CRH, GTM, Mean, Median
from truthguard.aggregators.base import Aggregator
from truthguard.aggregators.partitions import Parts
from truthguard.datasets import make_synthetic
from truthguard.defenses import MIE, MWA, WorkerGroupMWA
from truthguard.distributed import DaskExecutor
from truthguard.errors import InputError
from truthguard.experiments import read_experiment
from truthguard.experiments.runner import run_experiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[Client]:
    # Not the default client: fit() without client= must not find it (tested below).
    with Client(cluster, set_as_default=False) as connected:
        yield connected


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return make_runner(capsys)


@pytest.fixture(scope="module")
def emotion(load_real: Callable[..., Any]) -> pd.DataFrame:
    frame: pd.DataFrame = load_real("emotion").answers
    return frame


@pytest.fixture(scope="module")
def emotion_on_cluster(emotion: pd.DataFrame, client: Client) -> tgd.PartitionedAnswers:
    # Rows shuffled, so the cluster's sort by task is what puts each task in one partition.
    return tgd.distribute(emotion.sample(frac=1.0, random_state=3), client, npartitions=5)


def assert_same_fit(on_cluster: Aggregator, in_memory: Aggregator) -> None:
    assert on_cluster.truths_.index.equals(in_memory.truths_.index)
    assert on_cluster.weights_.index.equals(in_memory.weights_.index)
    np.testing.assert_allclose(on_cluster.truths_.to_numpy(), in_memory.truths_.to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(on_cluster.weights_.to_numpy(), in_memory.weights_.to_numpy(), rtol=1e-9)
    assert on_cluster.n_iter_ == in_memory.n_iter_
    assert on_cluster.converged_ == in_memory.converged_
    np.testing.assert_allclose(on_cluster.objective_history_, in_memory.objective_history_, rtol=1e-9)


METHODS = {
    "mean": Mean(),
    "median": Median(),
    "crh": CRH(),
    "crh-absolute": CRH(loss="absolute"),
    "gtm": GTM(),
    "mwa": MWA(n_partitions=3),
    "mwa-gtm-weighted-median": MWA(base=GTM(), n_groups=None, weighted_median=True),
}


@pytest.mark.parametrize("name", METHODS)
def test_equal_to_in_memory_on_emotion(
    name: str, emotion: pd.DataFrame, emotion_on_cluster: tgd.PartitionedAnswers, client: Client
) -> None:
    assert emotion_on_cluster.n_partitions == 5
    method = METHODS[name]
    on_cluster = tgd.fit(method.clone(), emotion_on_cluster, client)
    assert_same_fit(on_cluster, method.clone().fit(emotion))


def test_large_broadcasts_are_copied_to_every_worker_along_a_tree(
    emotion: pd.DataFrame, emotion_on_cluster: tgd.PartitionedAnswers, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from truthguard.distributed import executor

    monkeypatch.setattr(executor, "_TREE_COPY_FROM", 0)  # every broadcast array counts as large
    held = executor.DaskExecutor(client)._broadcast(np.arange(5.0))
    assert len(client.who_has([held])[held.key]) == 2  # on both workers before any partition reads it
    on_cluster = tgd.fit(GTM(), emotion_on_cluster, client)
    assert_same_fit(on_cluster, GTM().fit(emotion))


def test_partitions_hold_whole_tasks_in_order(
    emotion: pd.DataFrame, emotion_on_cluster: tgd.PartitionedAnswers
) -> None:
    parts = emotion_on_cluster.executor.gather(emotion_on_cluster.tasks)
    assert sum(len(p) for p in parts) == emotion["task"].nunique()
    assert emotion_on_cluster.task_labels().equals(Answers.from_frame(emotion).tasks)
    assert emotion_on_cluster.n_answers == len(emotion)
    np.testing.assert_array_equal(emotion_on_cluster.worker_counts, Answers.from_frame(emotion).worker_counts())


@pytest.fixture(scope="module")
def synthetic_parquet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    frame = make_synthetic(n_tasks=3000, n_workers=40, answers_per_task=6, seed=11).answers
    folder = tmp_path_factory.mktemp("answers") / "synthetic"
    # 12 files, rows shuffled: every file holds answers of many tasks, every task spread over files.
    dd.from_pandas(frame.sample(frac=1.0, random_state=0), npartitions=12).to_parquet(folder)
    return folder, frame


@pytest.mark.parametrize("method", [CRH(), GTM(), MWA(base=GTM())], ids=["crh", "gtm", "mwa-gtm"])
def test_equal_to_in_memory_on_a_parquet_dataset_in_many_partitions(
    method: Aggregator, synthetic_parquet: tuple[Path, pd.DataFrame], client: Client
) -> None:
    folder, frame = synthetic_parquet
    assert len(list(folder.glob("*.parquet"))) == 12
    answers = tgd.distribute(folder, client, npartitions=9)
    assert answers.n_partitions == 9
    assert_same_fit(tgd.fit(method.clone(), answers, client), method.clone().fit(frame))


class _KillingExecutor(DaskExecutor):
    """Kills (SIGKILL) the worker process holding the most results when the fit merges for the Nth time."""

    def __init__(self, client: Client, at: int) -> None:
        super().__init__(client)
        self.at, self.calls, self.killed = at, 0, 0

    def merged(self, parts: Parts) -> Any:
        self.calls += 1
        if self.calls == self.at:
            held = self.client.has_what()
            busiest = max(held, key=lambda address: len(held[address]))
            assert held[busiest], "no worker holds anything to lose"
            pid = self.client.run(os.getpid, workers=[busiest])[busiest]
            os.kill(pid, signal.SIGKILL)
            self.killed = pid
        return super().merged(parts)


def test_a_worker_killed_mid_fit_does_not_change_the_result(
    synthetic_parquet: tuple[Path, pd.DataFrame], client: Client
) -> None:
    folder, frame = synthetic_parquet
    undisturbed = tgd.fit(GTM(), tgd.distribute(folder, client, npartitions=6), client)
    answers = tgd.distribute(folder, client, npartitions=6)
    killer = _KillingExecutor(client, at=6)  # merges: magnitude, constants, moments, start, 1st iteration, 2nd
    disturbed = tgd.fit(GTM(), dataclasses.replace(answers, executor=killer), client)
    assert killer.killed, "no worker was killed"
    client.wait_for_workers(2, timeout=60)
    assert killer.killed not in client.run(os.getpid).values()  # the nanny started a new process
    assert_same_fit(disturbed, undisturbed)
    assert_same_fit(disturbed, GTM().fit(frame))


@pytest.mark.parametrize("method", [MIE(), WorkerGroupMWA()], ids=["mie", "mwa-workers"])
def test_unsupported_methods_are_refused_with_the_supported_ones(
    method: Aggregator, emotion_on_cluster: tgd.PartitionedAnswers, client: Client
) -> None:
    with pytest.raises(InputError, match=r"cannot be fitted on a Dask cluster; methods that can: mean, median, .*crh"):
        tgd.fit(method, emotion_on_cluster, client)
    assert "mwa" in tgd.supported_names() and "mie" not in tgd.supported_names()


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"task": ["a", "a"], "worker": ["x", "x"], "value": [1.0, 2.0]}), "repeat a .task, worker. pair"),
        (
            pd.DataFrame({"task": ["a", "b"], "worker": ["x", "y"], "value": [1.0, np.inf]}),
            "partition of task 'b' .rows counted within it.: .*infinite .inf. at row 1 .task 'b', worker 'y'.",
        ),
        (pd.DataFrame({"task": ["a", "b"], "worker": ["x", "y"], "value": ["1", "two"]}), "non-numeric value 'two'"),
        (pd.DataFrame({"task": ["a"], "worker": ["x"]}), "missing column.s. value"),
        (pd.DataFrame({"task": [], "worker": [], "value": []}), "answers are empty"),
    ],
    ids=["duplicate", "infinite", "text", "no-value-column", "empty"],
)
def test_bad_answers_get_the_in_memory_messages(frame: pd.DataFrame, message: str, client: Client) -> None:
    with pytest.raises(InputError, match=message):
        tgd.fit(CRH(), frame, client)


def test_a_duplicate_policy_is_applied_where_the_partition_lies(client: Client) -> None:
    frame = pd.DataFrame({"task": ["a", "a", "b"], "worker": ["x", "x", "y"], "value": [1.0, 3.0, 5.0]})
    fitted = tgd.fit(Mean(), frame, client, on_duplicate="mean")
    assert fitted.truths_.to_dict() == {"a": 2.0, "b": 5.0}


def test_no_client_and_no_parquet_are_clear_errors(tmp_path: Path, client: Client) -> None:
    with pytest.raises(InputError, match="no Dask client"):
        tgd.fit(CRH(), pd.DataFrame({"task": ["a"], "worker": ["x"], "value": [1.0]}))
    with pytest.raises(InputError, match="cannot read Parquet answers"):
        tgd.fit(CRH(), tmp_path / "missing.parquet", client)
    with pytest.raises(InputError, match="must be a Parquet path, a Dask or a pandas DataFrame; got list"):
        tgd.fit(CRH(), [1, 2, 3], client)  # type: ignore[arg-type]


def test_cli_on_a_running_scheduler_writes_the_in_memory_estimates(
    run: Run, synthetic_parquet: tuple[Path, pd.DataFrame], cluster: LocalCluster, tmp_path: Path
) -> None:
    folder, frame = synthetic_parquet
    code, out, err = run(
        "aggregate",
        folder,
        "--method",
        "gtm",
        "--scheduler",
        cluster.scheduler_address,
        "-o",
        tmp_path / "cluster.csv",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["cluster"] == cluster.scheduler_address
    assert summary["n_answers"] == len(frame) and summary["n_tasks"] == frame["task"].nunique()
    estimates = pd.read_csv(tmp_path / "cluster.csv")
    reference = GTM().fit(frame).truths_
    np.testing.assert_allclose(estimates["value"].to_numpy(), reference.to_numpy(), atol=1e-9, rtol=0)
    assert list(estimates["task"]) == list(reference.index)


def test_cli_starts_a_local_cluster(run: Run, emotion: pd.DataFrame, tmp_path: Path) -> None:
    code, out, err = run(
        "aggregate",
        "--dataset",
        "emotion",
        "--method",
        "crh",
        "--dask",
        "local",
        "--dask-workers",
        "1",
        "-o",
        tmp_path / "local.csv",
    )
    assert code == 0, err
    assert "on the Dask cluster local" in out
    estimates = pd.read_csv(tmp_path / "local.csv")
    np.testing.assert_allclose(estimates["value"].to_numpy(), CRH().fit(emotion).truths_.to_numpy(), atol=1e-9)


def test_cli_cluster_errors_are_one_line(run: Run, tmp_path: Path, cluster: LocalCluster) -> None:
    csv = tmp_path / "answers.csv"
    csv.write_text("task,worker,value\na,x,1\n")
    assert "reads answers from Parquet" in assert_input_error(
        *run("aggregate", csv, "--scheduler", cluster.scheduler_address)
    )
    assert "--dask-workers applies only with --dask local" in assert_input_error(
        *run("aggregate", csv, "--dask-workers", "2")
    )
    line = assert_input_error(
        *run("aggregate", "--dataset", "emotion", "--defense", "mie", "--scheduler", cluster.scheduler_address)
    )
    assert "cannot be fitted on a Dask cluster" in line
    assert not list(tmp_path.glob("*.tmp*"))


def test_cli_run_spreads_the_cells_over_a_cluster(run: Run, cluster: LocalCluster, tmp_path: Path) -> None:
    from test_experiments import SMALL, TIMINGS

    path = tmp_path / "experiment.toml"
    path.write_text(SMALL.replace("[0, 1]", "[0]"), encoding="utf-8")
    code, out, err = run("run", path, "-o", tmp_path / "cluster", "--scheduler", cluster.scheduler_address, "--json")
    assert code == 1, err  # the experiment's impossible MIE cells fail, on the cluster as at home
    assert json.loads(out)["cells"] == 9
    at_home = run_experiment(read_experiment(path), tmp_path / "home", jobs=1)
    on_cluster = pd.read_parquet(tmp_path / "cluster" / "results.parquet")
    pd.testing.assert_frame_equal(on_cluster.drop(columns=TIMINGS), at_home.drop(columns=TIMINGS))
    assert "--jobs counts local processes" in assert_input_error(
        *run("run", path, "-o", tmp_path / "x", "--jobs", "2", "--scheduler", cluster.scheduler_address)
    )
