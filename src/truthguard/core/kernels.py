"""Compiled passes over task-sorted answers, the NumPy backend's fast path for large fits (numba).

Two loops make up most of an iteration of CRH and of the inverse-variance methods (GTM, LFC-N, CATD): the
truth step's per-task sums of weighted answers, and the weight step's per-worker sums of scaled squared
residuals. Vectorised, each is a chain of passes over 10^7-element temporaries (a gather, products, a
``bincount``); compiled, each is one pass that reads the answers once and writes only per-task or per-worker
totals. The loops add in answer order, as ``np.bincount`` does, so both paths give the same bits (tested);
the per-answer arithmetic is :func:`~truthguard.core.formulas.scaled_square`, the very function the
vectorised path calls, compiled: each formula is written once (:mod:`truthguard.core.formulas`,
:mod:`truthguard.core.segments`); the kernels only loop and add. The per-task medians and the
dominated-estimate counts are compiled too, with the same results as their vectorised forms (tested).

The compiled path is taken by NumPy from :data:`COMPILED_FROM` answers on: below that the vectorised passes
take milliseconds, and importing numba (about half a second per process; compiled code is cached on disk)
would cost more than it saves.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from truthguard.core.backend import NUMPY, Array, ArrayBackend

__all__ = ["COMPILED_FROM", "compiled_applies", "kernels", "task_starts"]

#: Answers from which NumPy fits use the compiled passes.
COMPILED_FROM = 1_000_000

_loaded: dict[str, ModuleType] = {}


def compiled_applies(be: ArrayBackend, values: Array) -> bool:
    """Whether the compiled passes serve this computation: NumPy arrays of at least :data:`COMPILED_FROM`
    answers (JAX, under differentiation, keeps the vectorised formulas)."""
    return be is NUMPY and values.shape[0] >= COMPILED_FROM


def kernels() -> ModuleType:
    """The compiled kernels (:mod:`truthguard.core._compiled`), imported on first use."""
    if "module" not in _loaded:
        from truthguard.core import _compiled

        _loaded["module"] = _compiled
    return _loaded["module"]


def task_starts(task_counts: Array) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Where each task's answers start in task-sorted order, and the end: ``len(task_counts) + 1`` offsets."""
    starts = np.zeros(task_counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.asarray(task_counts, dtype=np.int64), out=starts[1:])
    return starts
