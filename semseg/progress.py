"""A one-line progress indicator: on a terminal's stderr it rewrites itself; elsewhere silent."""

from __future__ import annotations

import sys
from collections.abc import Callable


def terminal_progress() -> Callable[[str], None]:
    """A ``progress(message)`` callable; ``progress("")`` clears the line when work is done."""
    if not sys.stderr.isatty():
        return lambda _msg: None

    def show(msg: str) -> None:
        sys.stderr.write(f"\r\033[K{msg}")
        sys.stderr.flush()

    return show
