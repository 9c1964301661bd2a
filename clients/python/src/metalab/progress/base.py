"""Progress configuration (``Progress``), the ``ProgressTracker`` protocol, and the plain
text tracker (``SimpleProgressTracker``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from metalab.progress.metrics import MetricDisplay, normalize_display_metrics
from metalab.progress.simple import SimpleProgressTracker

if TYPE_CHECKING:
    from metalab.events import Event

__all__ = [
    "MetricDisplay",
    "Progress",
    "ProgressTracker",
    "SimpleProgressTracker",
    "normalize_display_metrics",
]


@dataclass
class Progress:
    """Progress display settings for ``metalab.run(exp, progress=Progress(...))``.

    Attributes:
        title: Heading of the display (default: the experiment's name).
        style: ``"auto"`` (rich on a terminal when installed, else plain lines),
            ``"rich"`` or ``"simple"``.
        display_metrics: Metrics shown per finished run: ``"name"``, ``"name:format"``
            or ``MetricDisplay`` entries.
    """

    title: str | None = None
    style: Literal["auto", "rich", "simple"] = "auto"
    display_metrics: list[str | MetricDisplay] | None = None


@runtime_checkable
class ProgressTracker(Protocol):
    """Receives runner events (it is an event callback) and shows progress.

    Used as a context manager: entering starts the display, leaving ends it.
    """

    total: int
    completed: int
    failed: int
    skipped: int
    running: int

    def __call__(self, event: Event) -> None:
        """Handle one runner event."""
        ...

    def __enter__(self) -> ProgressTracker:
        """Start the display."""
        ...

    def __exit__(self, *args: Any) -> None:
        """End the display and print a final summary."""
        ...

    def get_console(self) -> Any | None:
        """The rich Console output should be routed through, or None."""
        ...
