"""Exceptions raised by TruthGuard.

Every anticipated problem is a :class:`TruthGuardError` whose message is one line naming the problem and how
to fix it; the command-line tool prints that line and exits with status 2.
"""

from __future__ import annotations

__all__ = [
    "DataUnavailableError",
    "InputError",
    "NotFittedError",
    "TruthGuardError",
]


class TruthGuardError(Exception):
    """Base class of every error TruthGuard raises on purpose."""


class InputError(TruthGuardError, ValueError):
    """The answers, truth, bounds or options given are invalid (the message says which and how to fix it)."""


class DataUnavailableError(TruthGuardError, OSError):
    """A dataset's files are neither on disk nor downloadable (the message says what to fetch and where)."""


class NotFittedError(TruthGuardError, AttributeError):
    """A fitted attribute (``truths_``, ``objective_``…) was read before ``fit`` (or ``poison``) ran."""
