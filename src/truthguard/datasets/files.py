"""Finding a dataset's original files: the data directory, the user cache, or a checked download.

A real dataset is a folder of files distributed by their authors (e.g. ``emotion_zheng2017/answer.csv``).
They are looked up, in order:

1. in ``$TRUTHGUARD_DATA/<folder>/`` (a directory laid out like the project's shared data folder);
2. in the user cache, ``$TRUTHGUARD_CACHE/<folder>/`` or else the platform cache directory
   (``~/.cache/truthguard/<folder>/`` on Linux);
3. otherwise downloaded from their public URL into the cache, with a progress bar.

Every file is checked against its published SHA-256 wherever it comes from. The files are never bundled with
TruthGuard: some may not be redistributed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from truthguard.core.output import open_output
from truthguard.core.progress import progress_enabled
from truthguard.errors import DataUnavailableError

__all__ = ["DataFolder", "RemoteFile", "cache_dir", "data_dir", "locate", "sha256_of"]

DATA_ENV = "TRUTHGUARD_DATA"
CACHE_ENV = "TRUTHGUARD_CACHE"


@dataclass(frozen=True)
class RemoteFile:
    """One original file of a dataset and the places it can be fetched from.

    Attributes:
        name: File name inside the dataset folder.
        sha256: Published SHA-256 of the file's bytes.
        urls: Download locations, tried in order; each is either the file itself or, with ``member``, a zip
            archive holding it.
        member: File name inside a zip archive (matched on its last path component), or None.
    """

    name: str
    sha256: str
    urls: tuple[str, ...]
    member: str | None = None


@dataclass(frozen=True)
class DataFolder:
    """The original files of one dataset, kept together in a folder named ``folder``."""

    folder: str
    files: tuple[RemoteFile, ...]


def data_dir() -> Path | None:
    """The directory named by ``$TRUTHGUARD_DATA``, if set."""
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The user cache for downloaded datasets (``$TRUTHGUARD_CACHE`` overrides the platform default)."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else Path(platformdirs.user_cache_dir("truthguard"))


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _complete(folder: Path, spec: DataFolder) -> bool:
    return all((folder / f.name).is_file() for f in spec.files)


def _verify(folder: Path, spec: DataFolder) -> Path:
    for remote in spec.files:
        path = folder / remote.name
        actual = sha256_of(path)
        if actual != remote.sha256:
            raise DataUnavailableError(
                f"{path} does not match its published SHA-256 ({actual[:12]}… instead of {remote.sha256[:12]}…); "
                "delete it and load again to re-download, or replace it with the original file"
            )
    return folder


def candidates(spec: DataFolder) -> list[Path]:
    """The folders searched, in order (the data directory first, when set)."""
    folders = []
    root = data_dir()
    if root is not None:
        folders.append(root / spec.folder)
    folders.append(cache_dir() / spec.folder)
    return folders


def find(spec: DataFolder) -> Path | None:
    """The first folder holding all of the dataset's files, without checking or downloading."""
    return next((folder for folder in candidates(spec) if _complete(folder, spec)), None)


def locate(spec: DataFolder, *, download: bool = True) -> Path:
    """The folder holding the dataset's checked files, downloading them into the cache if needed.

    Raises:
        DataUnavailableError: The files are nowhere on disk and cannot be downloaded (the message says what to
            fetch and where to put it), or a file on disk does not match its checksum.
    """
    found = find(spec)
    if found is not None:
        return _verify(found, spec)
    target = cache_dir() / spec.folder
    if not download:
        raise DataUnavailableError(_manual_instructions(spec, target, "downloads are disabled"))
    for remote in spec.files:
        if not (target / remote.name).is_file():
            _download(remote, target, spec)
    return _verify(target, spec)


def _manual_instructions(spec: DataFolder, target: Path, reason: str) -> str:
    files = "; ".join(
        f"{f.urls[0]}{f' (file {f.member} inside)' if f.member else ''} -> {target / f.name}" for f in spec.files
    )
    return (
        f"dataset files for {spec.folder!r} are not on this machine and could not be downloaded ({reason}); "
        f"download them by hand: {files}; or set {DATA_ENV} to a folder holding {spec.folder}/"
    )


@contextlib.contextmanager
def _quiet_pooch(pooch: Any) -> Iterator[None]:
    """Pooch logs "Downloading data from ..." at INFO on standard error: our own messages say what matters."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _download(remote: RemoteFile, target: Path, spec: DataFolder) -> None:
    import pooch  # deferred: only needed on the first use of a dataset

    errors = []
    bar = progress_enabled()  # a terminal only: never in pipes, logs or JSON output
    for url in remote.urls:
        with tempfile.TemporaryDirectory(prefix="truthguard-") as scratch, _quiet_pooch(pooch):
            try:
                if remote.member is None:
                    fetched = Path(
                        pooch.retrieve(
                            url,
                            known_hash=f"sha256:{remote.sha256}",
                            fname=remote.name,
                            path=scratch,
                            progressbar=bar,
                        )
                    )
                else:
                    extracted = pooch.retrieve(
                        url, known_hash=None, path=scratch, progressbar=bar, processor=pooch.Unzip()
                    )
                    matches = [Path(p) for p in extracted if Path(p).name == Path(remote.member).name]
                    if not matches:
                        raise ValueError(f"the archive has no file named {remote.member}")
                    fetched = matches[0]
                if sha256_of(fetched) != remote.sha256:
                    raise ValueError("the downloaded file does not match its published SHA-256")
            except Exception as error:
                errors.append(f"{url}: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
                continue
            target.mkdir(parents=True, exist_ok=True)
            with fetched.open("rb") as source, open_output(target / remote.name) as destination:
                shutil.copyfileobj(source, destination)
            return
    raise DataUnavailableError(_manual_instructions(spec, target, " | ".join(errors)))
