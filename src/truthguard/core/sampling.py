"""Seeded randomness: turning a user's ``random_state`` into a generator, and sampling helpers."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from truthguard.errors import InputError

__all__ = ["RandomState", "as_generator", "sample_distinct", "uniform_stream"]

#: What ``random_state`` / ``seed`` arguments accept.
RandomState = int | np.integer | np.random.Generator | None


def as_generator(random_state: RandomState, name: str = "random_state") -> np.random.Generator:
    """A NumPy generator: from a seed (an integer >= 0), a ``Generator`` (used as it is), or None (fresh entropy).

    Raises:
        InputError: Anything else (a negative or fractional seed, a boolean, text...), naming ``name``.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, int | np.integer) and not isinstance(random_state, bool) and random_state >= 0
    ):
        return np.random.default_rng(random_state)
    raise InputError(f"{name} must be an integer >= 0, a numpy Generator or None; got {random_state!r}")


# Rows of the random matrix drawn at once when k is a large share of n (caps memory near 80 MB).
_CHUNK_CELLS = 10_000_000


def sample_distinct(rng: np.random.Generator, n_rows: int, n: int, k: int) -> npt.NDArray[np.int64]:
    """An ``(n_rows, k)`` array whose rows are ``k`` distinct items of ``range(n)``, each row sorted.

    Rows are uniform over the k-subsets. With ``k**2 < n`` fewer than half the rows of a draw with replacement
    repeat an item, so redrawing just those rows ends quickly; otherwise each row takes the ``k`` smallest of
    ``n`` uniform keys (chunked to bound memory).
    """
    if k == n:
        return np.broadcast_to(np.arange(n, dtype=np.int64), (n_rows, n)).copy()
    if k * k < n:
        chosen = np.sort(rng.integers(0, n, size=(n_rows, k)), axis=1)
        redo = np.flatnonzero((chosen[:, 1:] == chosen[:, :-1]).any(axis=1))
        while redo.size:
            fresh = np.sort(rng.integers(0, n, size=(redo.size, k)), axis=1)
            chosen[redo] = fresh
            redo = redo[(fresh[:, 1:] == fresh[:, :-1]).any(axis=1)]
        return chosen.astype(np.int64)
    parts = []
    rows = max(1, _CHUNK_CELLS // n)
    for start in range(0, n_rows, rows):
        keys = rng.random((min(n_rows, start + rows) - start, n))
        parts.append(np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1))
    return np.concatenate(parts).astype(np.int64)


def uniform_stream(seed: int, start: int, n: int) -> npt.NDArray[np.float64]:
    """The uniforms at positions ``[start, start + n)`` of ``np.random.default_rng(seed).random``'s stream.

    Each uniform consumes one 64-bit draw of the PCG64 generator, which can jump ahead in constant time: a
    partition of the answers draws its own share of one seeded stream, and the whole equals one draw.
    """
    generator = np.random.PCG64(seed)
    generator.advance(start)
    return np.random.Generator(generator).random(n)
