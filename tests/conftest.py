"""Shared fixtures.

Real datasets come from ``$TRUTHGUARD_DATA`` (``.ci/run`` points it at ``../shared/data``). Tests never
download: the user cache is redirected to a temporary folder, and a test needing a dataset that is not in
``$TRUTHGUARD_DATA`` fails under CI (``CI=true``) and is skipped elsewhere, with the reason.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import settings

from truthguard import datasets
from truthguard.cli.main import main
from truthguard.datasets import files

ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# CI runs the same examples every time (a red run is then reproducible); elsewhere hypothesis explores.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if ON_CI else "dev")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    previous = os.environ.get(files.CACHE_ENV)
    os.environ[files.CACHE_ENV] = str(tmp_path_factory.mktemp("truthguard-cache"))
    yield
    if previous is None:
        os.environ.pop(files.CACHE_ENV, None)
    else:
        os.environ[files.CACHE_ENV] = previous


def require_dataset(name: str) -> None:
    """Fail (under CI) or skip unless the dataset's files are in $TRUTHGUARD_DATA."""
    spec = datasets.info(name)
    assert spec.folder is not None
    root = files.data_dir()
    present = root is not None and all((root / spec.folder.folder / f.name).is_file() for f in spec.folder.files)
    if not present:
        reason = f"dataset {name!r} not found: set TRUTHGUARD_DATA to a folder holding {spec.folder.folder}/"
        if ON_CI:
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def need_dataset() -> Callable[[str], None]:
    """``need_dataset(name)``: fail under CI, skip elsewhere, unless the dataset is in $TRUTHGUARD_DATA."""
    return require_dataset


@pytest.fixture(scope="session")
def load_real() -> Callable[..., datasets.Dataset]:
    """``load_real(name, **options)``: a real dataset from $TRUTHGUARD_DATA (fail on CI / skip if absent)."""
    cache: dict[tuple[str, tuple[tuple[str, object], ...]], datasets.Dataset] = {}

    def load(name: str, **options: object) -> datasets.Dataset:
        require_dataset(name)
        key = (name, tuple(sorted(options.items())))
        if key not in cache:
            cache[key] = datasets.load(name, **options)
        return cache[key]

    return load


@pytest.fixture
def toy_answers() -> pd.DataFrame:
    """Three tasks, three workers; worker c is far off on every task."""
    return pd.DataFrame(
        {
            "task": [1, 1, 1, 2, 2, 2, 3, 3, 3],
            "worker": ["a", "b", "c"] * 3,
            "value": [10.0, 10.5, 30.0, 20.0, 19.0, 0.0, 5.0, 5.5, 25.0],
        }
    )


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[str, str], Path]:
    """``write_csv(name, text)`` writes ``text`` to ``tmp_path / name`` and returns the path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_main_job() -> str:
    """The README's main job: its first command, ``pip install . && truthguard ...``."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return next(line for line in lines if line.startswith("pip install . && truthguard"))


@pytest.fixture(scope="session")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    """The README's main job run once, as a user would, in a fresh folder: exit status, output, folder."""
    folder = tmp_path_factory.mktemp("main-job")
    argv = shlex.split(readme_main_job().split("&&", 1)[1])[1:]
    out = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue(), folder
