"""Run counters shared by the progress trackers, updated from runner events."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metalab.events import Event


def payload_text(event: Event, key: str, default: str, limit: int) -> str:
    """``event.payload[key]`` as text cut to ``limit`` characters (``default`` if absent)."""
    if not event.payload:
        return default
    return str(event.payload.get(key, default))[:limit]


def finished_metrics(event: Event) -> dict[str, Any]:
    """The ``metrics`` dict carried by a finished-run event ({} if none)."""
    metrics = event.payload.get("metrics") if event.payload else None
    return dict(metrics) if isinstance(metrics, dict) else {}


class RunCounts:
    """Totals of a sweep: ``total``, ``completed``, ``failed``, ``skipped``, ``running``.

    ``apply`` updates them from an event and tells which kind it was, so a tracker only
    adds its display. RUN_STARTED raises ``running``, a finished or failed run lowers it,
    and a PROGRESS event sets ``total`` and ``running`` to the runner's figures.
    """

    def __init__(self, total: int = 0) -> None:
        self.total = total
        self.completed = 0
        self.failed = 0
        self.skipped = 0
        self.running = 0
        self.start_time = time.time()

    def apply(self, event: Event) -> str | None:
        """Count ``event``; returns its kind's value (``"run_finished"``, ...) or None."""
        from metalab.events import EventKind

        kind = event.kind
        if kind == EventKind.RUN_STARTED:
            self.running += 1
        elif kind == EventKind.RUN_FINISHED:
            self.completed += 1
            self.running = max(0, self.running - 1)
        elif kind == EventKind.RUN_FAILED:
            self.failed += 1
            self.running = max(0, self.running - 1)
        elif kind == EventKind.RUN_SKIPPED:
            self.skipped += 1
        elif kind == EventKind.PROGRESS:
            if event.payload:
                self.total = int(event.payload.get("total", self.total))
                self.running = int(event.payload.get("running", self.running))
        else:
            return None
        return str(kind.value)

    @property
    def elapsed(self) -> float:
        """Seconds since the counter was created."""
        return time.time() - self.start_time

    def eta_text(self) -> str:
        """Remaining time estimated from the pace so far (``"?"`` before any run ended)."""
        done = self.completed + self.failed
        if done == 0:
            return "?"
        eta = self.elapsed / done * max(0, self.total - done - self.skipped)
        if eta < 60:
            return f"{eta:.0f}s"
        if eta < 3600:
            return f"{eta / 60:.1f}m"
        return f"{eta / 3600:.1f}h"
