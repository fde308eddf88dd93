"""Refusing what cannot fit: estimate a run's memory before allocating, compare with what is available.

A run that needs more memory than the machine has does not fail gracefully: it allocates gigabytes, then
dies in a ``MemoryError`` or is killed by the kernel. The large allocations of TruthGuard (generating
synthetic answers, adding malicious workers, reading a CSV file) are proportional to a count known in
advance, so each checks first with :func:`check_memory`, using a cost per answer measured on this code
(peak resident memory over several sizes; the figures are in the modules that use them).
"""

from __future__ import annotations

import os
from pathlib import Path

from truthguard.errors import ResourceError

__all__ = ["SINGLE_THREADED", "available_memory", "check_memory", "format_bytes"]

#: Environment for worker processes (a process pool's, a Dask cluster's): one thread each for BLAS, XLA and
#: the compiled passes' lanes (truthguard.core.kernels), so that N processes use N cores instead of
#: oversubscribing them.
SINGLE_THREADED = {
    "TRUTHGUARD_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}

_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a number near 2**63
# Where the kernel publishes memory figures (module constants so that tests can point them at fake trees).
_PROC = Path("/proc")
_CGROUP = Path("/sys/fs/cgroup")


def _meminfo_available() -> int | None:
    try:
        for line in (_PROC / "meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _read_number(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return None if text == "max" or not text.isdigit() else int(text)


def _cgroup_room() -> int | None:
    """Limit minus usage of this process's memory cgroup (v2 or v1), when it has a limit."""
    try:
        lines = (_PROC / "self" / "cgroup").read_text().splitlines()
    except OSError:
        return None
    rooms = []
    for line in lines:
        _, controllers, place = line.split(":", 2)
        relative = place.lstrip("/")
        if controllers == "":  # cgroup v2
            candidates = [(_CGROUP / relative, "memory.max", "memory.current")]
        elif "memory" in controllers.split(","):  # cgroup v1; inside a container the group may be the mount's root
            root = _CGROUP / "memory"
            candidates = [(root / relative, "memory.limit_in_bytes", "memory.usage_in_bytes")]
            candidates.append((root, "memory.limit_in_bytes", "memory.usage_in_bytes"))
        else:
            continue
        for folder, limit_name, usage_name in candidates:
            limit = _read_number(folder / limit_name)
            usage = _read_number(folder / usage_name)
            if limit is not None and usage is not None:
                if limit < _UNLIMITED:
                    rooms.append(max(limit - usage, 0))
                break
    return min(rooms) if rooms else None


def available_memory() -> int | None:
    """Bytes this process can still allocate without swapping: the system's available memory, or less under a
    cgroup limit (containers, CI). None when the platform does not say."""
    known = [room for room in (_meminfo_available(), _cgroup_room()) if room is not None]
    return min(known) if known else None


def format_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"``; binary units, one decimal."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(count) < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def check_memory(needed: float, what: str, fix: str) -> None:
    """Raise :class:`~truthguard.errors.ResourceError` when ``needed`` bytes exceed the available memory.

    Args:
        needed: The estimated peak of the work about to start, in bytes.
        what: The work, as the message's subject (``"generating 100,000,000,000 synthetic answers"``).
        fix: The option that makes it fit.
    """
    room = available_memory()
    if room is not None and needed > room:
        raise ResourceError(
            f"{what} needs about {format_bytes(needed)} of memory but {format_bytes(room)} is available; {fix}"
        )
