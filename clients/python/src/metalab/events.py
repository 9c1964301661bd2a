"""Run events for hooks and progress displays.

Delivery contract: events are emitted synchronously (the callback runs inline); a callback
that raises is logged and ignored, so a broken hook never fails a run; events of one run
arrive in order (started, artifacts, finished), events of concurrent runs may interleave;
nothing is buffered or persisted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

__all__ = ["Event", "EventCallback", "EventEmitter", "EventKind", "emit_event"]

logger = logging.getLogger(__name__)


class EventKind(str, Enum):  # noqa: UP042 - str() must stay "EventKind.X", as upstream
    """What an event reports."""

    RUN_STARTED = "run_started"
    RUN_FINISHED = "run_finished"
    RUN_FAILED = "run_failed"
    RUN_SKIPPED = "run_skipped"
    ARTIFACT_SAVED = "artifact_saved"
    PROGRESS = "progress"
    LOG = "log"


@dataclass(frozen=True)
class Event:
    """One event.

    Attributes:
        kind: what happened.
        run_id: the run concerned (``None`` for experiment-wide events).
        timestamp: local time of emission.
        payload: kind-specific data.
    """

    kind: EventKind
    run_id: str | None
    timestamp: datetime
    payload: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _now(cls, kind: EventKind, run_id: str | None, payload: dict[str, Any]) -> Event:
        return cls(kind=kind, run_id=run_id, timestamp=datetime.now(), payload=payload)

    @classmethod
    def run_started(cls, run_id: str, **extra: Any) -> Event:
        """A run began; ``extra`` becomes the payload."""
        return cls._now(EventKind.RUN_STARTED, run_id, extra)

    @classmethod
    def run_finished(cls, run_id: str, **extra: Any) -> Event:
        """A run succeeded; ``extra`` becomes the payload."""
        return cls._now(EventKind.RUN_FINISHED, run_id, extra)

    @classmethod
    def run_failed(cls, run_id: str, error: str, **extra: Any) -> Event:
        """A run failed; payload ``{"error": error, **extra}``."""
        return cls._now(EventKind.RUN_FAILED, run_id, {"error": error, **extra})

    @classmethod
    def run_skipped(cls, run_id: str, reason: str = "already exists") -> Event:
        """A run was not executed (e.g. resumed and already stored); payload ``{"reason"}``."""
        return cls._now(EventKind.RUN_SKIPPED, run_id, {"reason": reason})

    @classmethod
    def artifact_saved(cls, run_id: str, name: str, uri: str, **extra: Any) -> Event:
        """An artifact was stored; payload ``{"name", "uri", **extra}``."""
        return cls._now(EventKind.ARTIFACT_SAVED, run_id, {"name": name, "uri": uri, **extra})

    @classmethod
    def progress(
        cls,
        run_id: str | None,
        current: int,
        total: int,
        message: str = "",
        running: int = 0,
    ) -> Event:
        """Progress of a run or experiment.

        Payload ``{"current", "total", "message", "running"}``.
        """
        payload = {"current": current, "total": total, "message": message, "running": running}
        return cls._now(EventKind.PROGRESS, run_id, payload)

    @classmethod
    def log(cls, run_id: str | None, message: str, level: str = "info") -> Event:
        """A log line; payload ``{"message", "level"}``."""
        return cls._now(EventKind.LOG, run_id, {"message": message, "level": level})


EventCallback = Callable[[Event], None]
"""A function receiving events."""


def emit_event(callback: EventCallback | None, event: Event) -> None:
    """Give ``event`` to ``callback`` (if any); an exception it raises is logged, not raised."""
    if callback is None:
        return
    try:
        callback(event)
    except Exception as exc:  # noqa: BLE001 - a broken hook must never fail the run
        logger.warning(f"Event callback failed for {event.kind}: {exc}")


class EventEmitter:
    """Convenience wrapper: one method per event kind, delivered via :func:`emit_event`."""

    def __init__(self, callback: EventCallback | None = None) -> None:
        self._callback = callback

    def emit(self, event: Event) -> None:
        """Deliver ``event``."""
        emit_event(self._callback, event)

    def run_started(self, run_id: str, **extra: Any) -> None:
        self.emit(Event.run_started(run_id, **extra))

    def run_finished(self, run_id: str, **extra: Any) -> None:
        self.emit(Event.run_finished(run_id, **extra))

    def run_failed(self, run_id: str, error: str, **extra: Any) -> None:
        self.emit(Event.run_failed(run_id, error, **extra))

    def run_skipped(self, run_id: str, reason: str = "already exists") -> None:
        self.emit(Event.run_skipped(run_id, reason))

    def artifact_saved(self, run_id: str, name: str, uri: str, **extra: Any) -> None:
        self.emit(Event.artifact_saved(run_id, name, uri, **extra))

    def progress(
        self, current: int, total: int, message: str = "", run_id: str | None = None
    ) -> None:
        self.emit(Event.progress(run_id, current, total, message))

    def log(self, message: str, level: str = "info", run_id: str | None = None) -> None:
        self.emit(Event.log(run_id, message, level))
