"""Live progress with rich: a bar, run counters and the most recent runs.

Importing this module imports rich (``pip install metalab[rich]``).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from metalab.progress.counts import RunCounts, finished_metrics, payload_text
from metalab.progress.metrics import MetricDisplay, metrics_text, normalize_display_metrics

if TYPE_CHECKING:
    from metalab.events import Event

_BADGES = {
    "success": ("✓ done", "green"),
    "failed": ("✗ fail", "red"),
    "skip": ("→ skip", "yellow"),
}


class RichProgressTracker(RunCounts):
    """Live progress display: bar with ETA, success/failed/skipped/running counters and a
    feed of recent runs (with chosen metrics).

    Example:
        with RichProgressTracker(total=100, title="Sweep") as tracker:
            handle = metalab.run(exp, on_event=tracker)
    """

    def __init__(
        self,
        total: int = 0,
        title: str = "Experiment",
        show_recent: int = 5,
        console: Console | None = None,
        display_metrics: list[str | MetricDisplay] | None = None,
    ) -> None:
        """
        Args:
            total: Number of runs expected.
            title: Panel title.
            show_recent: How many recent runs the feed shows.
            console: Console to draw on (a new one by default).
            display_metrics: Metrics shown for each finished run in the feed.
        """
        super().__init__(total)
        self.title = title
        self.show_recent = show_recent
        self._display_metrics = normalize_display_metrics(display_metrics)
        self.in_progress: dict[str, float] = {}
        self.recent_events: deque[tuple[str, str, str]] = deque(maxlen=show_recent)
        self.console = console or Console()
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold blue]{task.description}"),
            BarColumn(bar_width=40),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("•"),
            TimeRemainingColumn(),
            console=self.console,
            expand=False,
        )
        self.task_id: TaskID | None = None
        self.live: Live | None = None

    def __call__(self, event: Event) -> None:
        run_id = event.run_id or ""
        total_before = self.total
        kind = self.apply(event)
        if kind == "run_started":
            self.in_progress[run_id] = event.timestamp.timestamp()
        elif kind == "run_finished":
            duration = event.payload.get("duration_ms", 0) if event.payload else 0
            shown = [f"{duration}ms", *metrics_text(self._display_metrics, finished_metrics(event))]
            self._finish(run_id, "success", " | ".join(shown))
        elif kind == "run_failed":
            self._finish(run_id, "failed", payload_text(event, "error", "unknown", 35))
        elif kind == "run_skipped":
            self.recent_events.appendleft(
                ("skip", run_id, payload_text(event, "reason", "cached", 35))
            )
        elif kind == "progress" and self.total != total_before and self.task_id is not None:
            self.progress.update(self.task_id, total=self.total)
        if self.live is not None:
            self.live.update(self._render())

    def _finish(self, run_id: str, status: str, details: str) -> None:
        self.recent_events.appendleft((status, run_id, details))
        self.in_progress.pop(run_id, None)
        if self.task_id is not None:
            self.progress.advance(self.task_id)

    def _render(self) -> Group:
        parts: list[RenderableType] = [self.progress]
        if self.recent_events:
            feed = Table(show_header=False, box=None, padding=(0, 1), collapse_padding=True)
            feed.add_column("Status", width=8)
            feed.add_column("Run ID", width=14)
            feed.add_column("Details", overflow="ellipsis")
            for status, run_id, details in self.recent_events:
                label, style = _BADGES.get(status, ("● run", "blue"))
                feed.add_row(Text(label, style=style), run_id[:12] + "…", details)
            parts.append(
                Panel(feed, title="[dim]Recent Activity[/dim]", border_style="dim", padding=(0, 1))
            )
        parts.append(
            Panel(
                self._counters(),
                title=f"[bold]{self.title}[/bold]",
                border_style="blue",
                padding=(0, 1),
            )
        )
        return Group(*parts)

    def _counters(self) -> Table:
        grid = Table.grid(padding=(0, 2))
        cells: list[str] = []
        for value, label, style in (
            (self.completed, "success", "green"),
            (self.failed, "failed", "red"),
            (self.skipped, "skipped", "yellow"),
            (self.running, "running", "cyan"),
        ):
            grid.add_column(style=style, justify="right")
            grid.add_column(style="dim")
            cells += [str(value), label]
        grid.add_row(*cells)
        return grid

    def __enter__(self) -> RichProgressTracker:
        self.task_id = self.progress.add_task("Running experiments", total=self.total or 100)
        self.live = Live(
            self._render(), console=self.console, refresh_per_second=10, transient=False
        )
        self.live.__enter__()
        return self

    def __exit__(self, *args: Any) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None
        interrupted = bool(args) and args[0] is KeyboardInterrupt
        counts = (
            f"  Success: [green]{self.completed}[/green]\n"
            f"  Failed: [red]{self.failed}[/red]\n"
            f"  Skipped: [yellow]{self.skipped}[/yellow]"
        )
        self.console.print()
        if interrupted:
            body = f"[yellow]⚠ Interrupted[/yellow] after [bold]{self.elapsed:.1f}s[/bold]\n"
            self.console.print(
                Panel(body + counts, title="Execution Interrupted", border_style="yellow")
            )
        else:
            body = f"[green]✓ Completed[/green] in [bold]{self.elapsed:.1f}s[/bold]\n"
            self.console.print(
                Panel(body + counts, title="Execution Complete", border_style="green")
            )

    def get_console(self) -> Console:
        """The Console the display draws on (route other output through it)."""
        return self.console
