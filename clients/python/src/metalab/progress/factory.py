"""``create_progress_tracker``: the tracker for a style and the current output."""

from __future__ import annotations

from typing import Any, Literal

from metalab.progress._console import wants_rich
from metalab.progress.base import ProgressTracker
from metalab.progress.metrics import MetricDisplay
from metalab.progress.simple import SimpleProgressTracker


def create_progress_tracker(
    total: int = 0,
    title: str = "Experiment",
    style: Literal["auto", "rich", "simple"] = "auto",
    display_metrics: list[str | MetricDisplay] | None = None,
    **kwargs: Any,
) -> ProgressTracker:
    """A progress tracker.

    Args:
        total: Number of runs expected.
        title: Title of the display.
        style: ``"rich"`` (needs rich), ``"simple"`` (plain lines), or ``"auto"``: rich
            when it is installed and output is a terminal (or notebook, or a ``console`` is
            given), plain lines otherwise.
        display_metrics: Metrics shown per finished run (``"name"``, ``"name:.2f"`` or
            ``MetricDisplay``).
        **kwargs: Passed to the tracker (e.g. ``show_recent``, ``console`` for rich;
            ``update_interval``, ``show_failures`` for simple).

    Raises:
        ImportError: ``style="rich"`` without rich installed.
    """
    if style == "rich" or (style == "auto" and ("console" in kwargs or wants_rich())):
        try:
            from metalab.progress.rich import RichProgressTracker
        except ImportError as exc:
            if style == "auto":
                return SimpleProgressTracker(
                    total=total, title=title, display_metrics=display_metrics, **kwargs
                )
            raise ImportError(
                "Rich progress tracker requires the 'rich' package. "
                "Install it with: pip install metalab[rich]"
            ) from exc
        return RichProgressTracker(
            total=total, title=title, display_metrics=display_metrics, **kwargs
        )
    return SimpleProgressTracker(
        total=total, title=title, display_metrics=display_metrics, **kwargs
    )
