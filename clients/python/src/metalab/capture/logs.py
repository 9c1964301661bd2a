"""A run's streaming log: one file handler shared by the run's logger and subscribed loggers.

Records are written as they happen (``tail -f`` works, a crash loses nothing). Stores that
give a log path (``SupportsLogPath``) are written in place; for others the file lives in
the capture's scratch directory and is uploaded with ``put_log`` when the run ends.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

LOG_FORMAT = "%(asctime)s [%(levelname)-7s] [%(name)s] %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def logger_name(run_id: str, worker_id: str | None) -> str:
    """``metalab.run.<first 8 of run_id>[.<worker_id>]``."""
    name = f"metalab.run.{run_id[:8]}"
    return f"{name}.{worker_id}" if worker_id else name


def level_number(level: str) -> int:
    """The numeric level for a name such as ``"warning"``; unknown names mean INFO."""
    number = logging.getLevelName(level.upper())
    return number if isinstance(number, int) else logging.INFO


def _debug_level(logger: logging.Logger) -> None:
    """Set a run's own logger to DEBUG. `Logger.setLevel` empties the level cache of every
    logger in the process, which grows quadratic over a sweep that makes one logger per run;
    only this logger's cache is emptied here (run loggers set their own level, so no other
    logger's answer depends on it)."""
    logger.level = logging.DEBUG
    cache = getattr(logger, "_cache", None)
    if isinstance(cache, dict):
        cache.clear()


class RunLog:
    """The file handler of one run, attached to its logger and to any subscribed loggers."""

    def __init__(
        self,
        path: Path,
        name: str,
        fmt: str = LOG_FORMAT,
        datefmt: str = LOG_DATE_FORMAT,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        self.handler.setLevel(logging.DEBUG)
        self.handler.setFormatter(logging.Formatter(fmt, datefmt=datefmt))
        self.logger = logging.getLogger(name)
        _debug_level(self.logger)
        self.logger.propagate = False
        self.logger.addHandler(self.handler)
        self._subscribed: dict[str, logging.Logger] = {}
        self._closed = False

    def subscribe(self, name: str, level: int) -> None:
        """Copy records of logger ``name`` at ``level`` or above into this log.

        Works for loggers with ``propagate=False``; lowers the logger's own level if it
        would drop such records.
        """
        if self._closed:
            return
        target = logging.getLogger(name)
        target.addHandler(self.handler)
        if target.level == logging.NOTSET or target.level > level:
            target.setLevel(level)
        self._subscribed[name] = target
        self.logger.debug("Subscribed to logger: %s (level=%s)", name, logging.getLevelName(level))

    def unsubscribe(self, name: str) -> None:
        """Stop copying records of logger ``name``."""
        target = self._subscribed.pop(name, None) or logging.getLogger(name)
        target.removeHandler(self.handler)

    def flush(self) -> None:
        self.handler.flush()

    def close(self) -> None:
        """Detach from every logger and close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for target in self._subscribed.values():
            target.removeHandler(self.handler)
        self._subscribed.clear()
        self.logger.removeHandler(self.handler)
        with contextlib.suppress(OSError, ValueError):
            self.handler.flush()
        self.handler.close()

    def read(self) -> str | None:
        """The log's content, or None when there is no file."""
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
