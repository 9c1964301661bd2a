"""Whether to render with rich: installed, and output goes to a terminal or a notebook."""

from __future__ import annotations

import sys
from importlib.util import find_spec
from typing import TextIO


def rich_installed() -> bool:
    """True when the ``rich`` package can be imported (checked without importing it)."""
    return find_spec("rich") is not None


def wants_rich(stream: TextIO | None = None) -> bool:
    """True when rich is installed and ``stream`` (default stdout) is a terminal or the
    process is a Jupyter kernel; plain lines are used otherwise (logs, pipes, CI)."""
    if not rich_installed():
        return False
    if "ipykernel" in sys.modules:
        return True
    out = stream if stream is not None else sys.stdout
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False
