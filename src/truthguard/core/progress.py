"""Progress bars for long work, on standard error when it is a terminal: never inside pipes or JSON output.

A bar appears only after a second of work, so quick runs stay silent; :func:`set_progress` switches bars off
(the command line's ``--quiet``) or forces them on.
"""

from __future__ import annotations

import shutil
import sys
from typing import Any

from tqdm import tqdm

__all__ = ["progress", "progress_enabled", "set_progress"]

_forced: bool | None = None


def set_progress(enabled: bool | None) -> None:
    """Show progress bars always (True), never (False), or when standard error is a terminal (None)."""
    global _forced
    _forced = enabled


def progress_enabled() -> bool:
    """Whether progress bars show now."""
    if _forced is not None:
        return _forced
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def progress(total: float | None, description: str, unit: str = "it", **options: Any) -> tqdm[Any]:
    """A progress bar (a disabled one when bars are off); use it as a context manager, ``update`` it."""
    # A terminal that reports no size (0 x 0) makes tqdm think its bar is off screen: fall back to 80 x 24.
    size = shutil.get_terminal_size()
    settings: dict[str, Any] = {
        "file": sys.stderr,
        "disable": not progress_enabled(),
        "delay": 1.0,
        "leave": False,
        "ncols": size.columns,
        "nrows": size.lines,
    }
    return tqdm(total=total, desc=description, unit=unit, **{**settings, **options})
