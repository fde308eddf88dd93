"""The core data model: validated answers, per-task bounds, array backends, segment kernels and table I/O."""

from truthguard.core.answers import DUPLICATE_POLICIES, Answers, DuplicatePolicy
from truthguard.core.backend import NUMPY, ArrayBackend
from truthguard.core.bounds import Bounds
from truthguard.core.claims import Claims
from truthguard.core.io import (
    read_answers,
    read_bounds,
    read_table,
    read_truth,
    truth_from_frame,
    write_table,
)

__all__ = [
    "DUPLICATE_POLICIES",
    "NUMPY",
    "Answers",
    "ArrayBackend",
    "Bounds",
    "Claims",
    "DuplicatePolicy",
    "read_answers",
    "read_bounds",
    "read_table",
    "read_truth",
    "truth_from_frame",
    "write_table",
]
