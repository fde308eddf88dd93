"""Exceptions raised by TruthGuard.

Every anticipated problem is a :class:`TruthGuardError` whose message is one line naming the problem and how
to fix it; the command-line tool prints that line and exits with status 2.
"""

from __future__ import annotations

__all__ = [
    "DataUnavailableError",
    "DominatedEstimateWarning",
    "InputError",
    "NotFittedError",
    "NumericalError",
    "OutputError",
    "ResourceError",
    "TruthGuardError",
    "TruthGuardWarning",
]


class TruthGuardError(Exception):
    """Base class of every error TruthGuard raises on purpose."""


class InputError(TruthGuardError, ValueError):
    """The answers, truth, bounds or options given are invalid (the message says which and how to fix it)."""


class DataUnavailableError(TruthGuardError, OSError):
    """A dataset's files are neither on disk nor downloadable (the message says what to fetch and where)."""


class OutputError(TruthGuardError, OSError):
    """A result could not be written (the message names the destination, the reason and the fix).

    Nothing is left half-written: the destination keeps its previous content, or does not appear.
    """


class ResourceError(TruthGuardError, MemoryError):
    """A run would need more memory than is available (the message gives both, and the option that fits)."""


class NotFittedError(TruthGuardError, AttributeError):
    """A fitted attribute (``truths_``, ``objective_``…) was read before ``fit`` (or ``poison``) ran."""


class NumericalError(TruthGuardError, FloatingPointError):
    """An estimate or weight came out NaN or infinite (never returned silently; a bug to report)."""


class TruthGuardWarning(UserWarning):
    """Base class of TruthGuard's warnings about results (the command line prints each as one line)."""


class DominatedEstimateWarning(TruthGuardWarning):
    """Some tasks' estimates are dominated by one far-off answer (see :mod:`truthguard.core.diagnostics`)."""


class GoldScreenWarning(TruthGuardWarning):
    """The gold screen left some tasks without answers: their estimates use every answer (see
    :mod:`truthguard.core.gold`)."""
