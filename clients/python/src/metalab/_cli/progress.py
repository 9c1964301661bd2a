"""Progress lines on stderr while the user waits."""

from __future__ import annotations

import sys
import time

import click


class Progress:
    """Prints ``[ 0.4s] message`` lines to stderr (quiet with --json or --quiet)."""

    def __init__(self, quiet: bool = False) -> None:
        self._quiet = quiet
        self._start = time.monotonic()

    def __call__(self, message: str) -> None:
        if self._quiet or not message:
            return
        elapsed = time.monotonic() - self._start
        click.echo(f"[{elapsed:5.1f}s] {message}", err=True)
        sys.stderr.flush()
