"""The dataset registry, the synthetic generator, the real loaders and the file lookup/download logic."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import http.server
import shutil
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from truthguard import datasets
from truthguard.core import Answers
from truthguard.datasets import emotion, files, make_synthetic, weather
from truthguard.errors import DataUnavailableError, InputError

# --------------------------------------------------------------------------- registry


def test_registry_lists_the_three_datasets() -> None:
    assert datasets.list() == ["synthetic", "emotion", "weather"]
    assert datasets.list_datasets() == datasets.list()


def test_unknown_dataset_and_option_are_clear_errors() -> None:
    with pytest.raises(InputError, match="unknown dataset 'nope'; choose one of synthetic, emotion, weather"):
        datasets.load("nope")
    with pytest.raises(InputError, match="no option 'n_task'; valid options: n_tasks"):
        datasets.load("synthetic", n_task=3)
    with pytest.raises(InputError, match="generated on the fly"):
        datasets.path("synthetic")


def test_info_describes_real_datasets() -> None:
    spec = datasets.info("weather")
    assert spec.folder is not None and {f.name for f in spec.folder.files} == {
        "weather_data_set.txt",
        "weather_ground_truth.txt",
    }
    assert "redistribut" in spec.licence
    assert spec.options() == {"temperature": "both", "low": None, "high": None}


# --------------------------------------------------------------------------- synthetic


def test_synthetic_defaults_are_the_documented_setting() -> None:
    data = datasets.load("synthetic")
    assert data.answers.shape == (100_000, 3)  # 1,000 tasks x 100 workers, everyone answers everything
    assert data.answers["task"].nunique() == 1000 and data.answers["worker"].nunique() == 100
    assert data.bounds.low == -100 and data.bounds.high == 100
    assert data.answers["value"].between(-100, 100).all()
    assert data.truth.between(-100, 100).all() and len(data.truth) == 1000
    assert data.workers is not None and data.workers["sigma"].between(1, 20).all()


def test_synthetic_is_deterministic_per_seed() -> None:
    a, b, c = (make_synthetic(n_tasks=200, n_workers=30, answers_per_task=4, seed=s) for s in (5, 5, 6))
    pd.testing.assert_frame_equal(a.answers, b.answers)
    pd.testing.assert_series_equal(a.truth, b.truth)
    assert not a.answers["value"].equals(c.answers["value"])


@pytest.mark.parametrize(("n_workers", "k"), [(1000, 10), (40, 30), (8, 8)])  # rejection, partition, everyone
def test_synthetic_gives_each_task_k_distinct_workers(n_workers: int, k: int) -> None:
    data = make_synthetic(n_tasks=300, n_workers=n_workers, answers_per_task=k, seed=1)
    per_task = data.answers.groupby("task")["worker"]
    assert (per_task.size() == k).all()
    assert (per_task.nunique() == k).all()
    Answers.from_frame(data.answers)  # no duplicate pair


def test_synthetic_density_and_noise() -> None:
    data = make_synthetic(n_tasks=400, n_workers=50, density=0.2, sigma_low=2, sigma_high=2, bias_scale=0, seed=2)
    assert len(data.answers) == pytest.approx(0.2 * 400 * 50, rel=0.05)
    residual = data.answers["value"] - data.truth.reindex(data.answers["task"]).to_numpy()
    inside = data.answers["value"].abs() < 95  # away from the clipping bounds the noise is N(0, 2^2)
    assert residual[inside].std() == pytest.approx(2.0, rel=0.05)
    assert set(data.truth.index) == set(data.answers["task"])


def test_synthetic_bias() -> None:
    data = make_synthetic(n_tasks=2000, n_workers=5, sigma_low=0.5, sigma_high=0.5, bias_scale=5, seed=3)
    assert data.workers is not None
    residual = data.answers["value"].to_numpy() - data.truth.reindex(data.answers["task"]).to_numpy()
    bias = pd.Series(residual).groupby(data.answers["worker"].to_numpy()).median()
    np.testing.assert_allclose(bias.to_numpy(), data.workers["bias"].to_numpy(), atol=0.1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_tasks": 0}, "n_tasks must be a positive integer"),
        ({"n_workers": 2.5}, "n_workers must be a positive integer"),
        ({"answers_per_task": 101}, "answers_per_task must be at most n_workers=100; got 101"),
        ({"answers_per_task": 3, "density": 0.5}, "not both"),
        ({"density": 0.0}, r"density must be a number in \(0, 1\] or None; got 0\.0"),
        ({"truth_low": 5, "truth_high": 5}, "truth_low must be below truth_high"),
        ({"sigma_low": 3, "sigma_high": 1}, "sigma_low <= sigma_high"),
        ({"bias_scale": -1}, "bias_scale must be a number >= 0; got -1"),
    ],
)
def test_synthetic_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        make_synthetic(**options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- real datasets


def test_emotion_as_documented(load_real) -> None:
    data = load_real("emotion")
    answers = Answers.from_frame(data.answers)
    # Counts from emotion_zheng2017/PROVENANCE.md.
    assert (answers.n_tasks, answers.n_workers, answers.n_answers) == (700, 38, 7000)
    assert (answers.task_counts() == 10).all()
    low, high = data.bounds.arrays(answers.tasks)
    assert (low[answers.tasks <= 600] == 0).all() and (low[answers.tasks > 600] == -100).all()
    assert (high == 100).all()
    assert len(data.truth) == 700


def test_emotion_dimension_block(load_real) -> None:
    data = load_real("emotion", dimension="valence")
    assert sorted(data.answers["task"].unique()) == list(range(601, 701))
    assert len(data.answers) == 1000 and len(data.truth) == 100
    with pytest.raises(InputError, match="unknown Emotion dimension"):
        datasets.load("emotion", dimension="happiness")


def test_weather_as_documented(load_real) -> None:
    data = load_real("weather")
    answers = Answers.from_frame(data.answers)
    # Counts from weather_crh2014/PROVENANCE.md: 10,692 numeric claims, 9 sources, 1,159 numeric truths.
    assert (answers.n_answers, answers.n_workers, answers.n_tasks) == (10_692, 9, 1400)
    assert len(data.truth) == 1159
    assert (data.bounds.low, data.bounds.high) == (-17.0, 88.0)
    assert len(load_real("weather", temperature="high").truth) == 580
    assert len(load_real("weather", temperature="low").truth) == 579
    assert set(load_real("weather", temperature="high").answers["task"] % 3) == {2}


# --------------------------------------------------------------------------- finding and fetching files


def _copy_folder(spec: files.DataFolder, root: Path) -> Path:
    source = files.data_dir()
    assert source is not None
    target = root / spec.folder
    shutil.copytree(source / spec.folder, target)
    return target


def test_checksum_mismatch_is_reported(need_dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_dataset("emotion")
    folder = _copy_folder(emotion.FOLDER, tmp_path)
    with (folder / "truth.csv").open("a") as handle:
        handle.write("999,1\n")
    monkeypatch.setenv(files.DATA_ENV, str(tmp_path))
    with pytest.raises(DataUnavailableError, match="does not match its published SHA-256"):
        datasets.load("emotion")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over a fresh directory: (base URL, directory)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[assignment,method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()


def _pointing_at(spec: files.DataFolder, urls: dict[str, tuple[str, ...]]) -> files.DataFolder:
    return dataclasses.replace(spec, files=tuple(dataclasses.replace(f, urls=urls[f.name]) for f in spec.files))


def _serve_emotion(server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """Emotion's files on the loopback server, and nothing in $TRUTHGUARD_DATA or the (fresh) cache."""
    base, root = server
    source = files.data_dir()
    assert source is not None
    for name in ("answer.csv", "truth.csv"):
        shutil.copyfile(source / "emotion_zheng2017" / name, root / name)
    monkeypatch.delenv(files.DATA_ENV)
    monkeypatch.setenv(files.CACHE_ENV, str(tmp_path / "cache"))
    return base, root


def test_download_into_cache_then_reuse(
    need_dataset, server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_dataset("emotion")
    base, root = _serve_emotion(server, tmp_path, monkeypatch)
    spec = _pointing_at(
        emotion.FOLDER, {n: (f"{base}/missing-{n}", f"{base}/{n}") for n in ("answer.csv", "truth.csv")}
    )
    monkeypatch.setattr(emotion, "FOLDER", spec)
    data = datasets.load("emotion")  # first mirror 404s, the second serves the file
    assert len(data.answers) == 7000
    assert (tmp_path / "cache" / "emotion_zheng2017" / "answer.csv").is_file()
    for name in ("answer.csv", "truth.csv"):
        (root / name).unlink()  # the server has nothing now: a second load must use the cache
    assert len(datasets.load("emotion").answers) == 7000


def test_download_from_zip_archive(
    need_dataset, server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_dataset("weather")
    base, root = server
    source = files.data_dir()
    assert source is not None
    with zipfile.ZipFile(root / "CRH.zip", "w") as archive:
        for name in ("weather_data_set.txt", "weather_ground_truth.txt"):
            archive.write(source / "weather_crh2014" / name, f"CRH/data/{name}")
    monkeypatch.delenv(files.DATA_ENV)
    monkeypatch.setenv(files.CACHE_ENV, str(tmp_path / "cache"))
    urls = {n: (f"{base}/CRH.zip",) for n in ("weather_data_set.txt", "weather_ground_truth.txt")}
    monkeypatch.setattr(weather, "FOLDER", _pointing_at(weather.FOLDER, urls))
    assert len(datasets.load("weather").truth) == 1159


def test_corrupt_download_is_refused(server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base, root = server
    (root / "answer.csv").write_text("question,worker,answer\n1,a,5\n")
    (root / "truth.csv").write_text("question,truth\n1,5\n")
    monkeypatch.delenv(files.DATA_ENV, raising=False)
    monkeypatch.setenv(files.CACHE_ENV, str(tmp_path / "cache"))
    spec = _pointing_at(emotion.FOLDER, {n: (f"{base}/{n}",) for n in ("answer.csv", "truth.csv")})
    monkeypatch.setattr(emotion, "FOLDER", spec)
    with pytest.raises(DataUnavailableError, match=r"SHA256|SHA-256|hash"):
        datasets.load("emotion")
    assert not (tmp_path / "cache" / "emotion_zheng2017" / "answer.csv").exists()


def test_offline_error_says_what_to_download_and_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(files.DATA_ENV, raising=False)
    monkeypatch.setenv(files.CACHE_ENV, str(tmp_path / "cache"))
    dead = "http://127.0.0.1:9/answer.csv"  # port 9 (discard) is closed: the download fails at once
    spec = _pointing_at(emotion.FOLDER, {"answer.csv": (dead,), "truth.csv": (dead,)})
    monkeypatch.setattr(emotion, "FOLDER", spec)
    with pytest.raises(DataUnavailableError) as caught:
        datasets.load("emotion")
    message = str(caught.value)
    assert dead in message
    assert str(tmp_path / "cache" / "emotion_zheng2017" / "answer.csv") in message
    assert "TRUTHGUARD_DATA" in message and "\n" not in message


def test_path_without_download_does_not_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(files.DATA_ENV, raising=False)
    monkeypatch.setenv(files.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(DataUnavailableError, match="downloads are disabled"):
        datasets.path("weather")


def test_interrupted_download_copy_leaves_nothing_in_the_cache(
    need_dataset: Callable[[str], None], server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The download is copied into the cache through the atomic writer: an interruption leaves no partial file."""
    need_dataset("emotion")
    base, _ = _serve_emotion(server, tmp_path, monkeypatch)
    spec = _pointing_at(emotion.FOLDER, {n: (f"{base}/{n}",) for n in ("answer.csv", "truth.csv")})
    monkeypatch.setattr(emotion, "FOLDER", spec)

    real_open_output = files.open_output

    @contextlib.contextmanager
    def interrupted(path: Path) -> Iterator[object]:
        with real_open_output(path) as stream:

            class Stream:
                def write(self, data: bytes) -> int:
                    stream.write(data[:25])  # part of the file on disk, then Ctrl-C
                    raise KeyboardInterrupt

            yield Stream()

    monkeypatch.setattr(files, "open_output", interrupted)
    with pytest.raises(KeyboardInterrupt):
        datasets.load("emotion")
    cache = tmp_path / "cache" / spec.folder
    assert not cache.exists() or sorted(p.name for p in cache.iterdir()) == []
