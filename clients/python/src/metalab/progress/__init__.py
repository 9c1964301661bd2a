"""Progress display for experiment runs.

``metalab.run(exp, progress=True)`` (or ``progress=Progress(...)``) shows a live rich
display on a terminal when rich is installed and plain progress lines otherwise. Trackers
are event callbacks and context managers::

    with create_progress_tracker(total=handle.status.total) as tracker:
        handle.set_event_callback(tracker)
        results = handle.result()

rich is imported only when a rich tracker is created (``RichProgressTracker`` and
``HAS_RICH`` are resolved on first access).
"""

from __future__ import annotations

from typing import Any

from metalab.progress.base import Progress, ProgressTracker
from metalab.progress.factory import create_progress_tracker
from metalab.progress.metrics import MetricDisplay, normalize_display_metrics
from metalab.progress.simple import SimpleProgressTracker

__all__ = [
    "HAS_RICH",
    "MetricDisplay",
    "Progress",
    "ProgressTracker",
    "RichProgressTracker",
    "SimpleProgressTracker",
    "create_progress_tracker",
    "normalize_display_metrics",
]


def __getattr__(name: str) -> Any:
    if name == "HAS_RICH":
        from metalab.progress._console import rich_installed

        return rich_installed()
    if name == "RichProgressTracker":
        try:
            from metalab.progress.rich import RichProgressTracker
        except ImportError:
            return None
        return RichProgressTracker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
