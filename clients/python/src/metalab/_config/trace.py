"""Log lines about config resolution, without importing `logging` on the fast path.

When nothing has imported `logging`, nothing has configured a handler either, so the lines
would go nowhere: skip them. ``metalab -v`` (or any program using `logging`) imports it first.
"""

from __future__ import annotations

import sys
from typing import Any

LOGGER = "metalab.config"


def info(message: str, *args: Any) -> None:
    _emit(20, message, args)


def debug(message: str, *args: Any) -> None:
    _emit(10, message, args)


def enabled() -> bool:
    """Whether debug lines could go anywhere (worth building them)."""
    return "logging" in sys.modules


def _emit(level: int, message: str, args: tuple[Any, ...]) -> None:
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger(LOGGER).log(level, message, *args)
