"""Plain-text progress: one line per update, for logs, pipes and terminals without rich."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metalab.progress.counts import RunCounts, finished_metrics, payload_text
from metalab.progress.metrics import MetricDisplay, metrics_text, normalize_display_metrics

if TYPE_CHECKING:
    from metalab.events import Event

_RULE = "-" * 60


class SimpleProgressTracker(RunCounts):
    """Prints progress lines to stdout.

    Example:
        with SimpleProgressTracker(total=100) as tracker:
            handle = metalab.run(exp, on_event=tracker)
    """

    def __init__(
        self,
        total: int = 0,
        title: str = "Experiment",
        show_failures: bool = True,
        update_interval: int = 1,
        display_metrics: list[str | MetricDisplay] | None = None,
    ) -> None:
        """
        Args:
            total: Number of runs expected.
            title: Shown on every line.
            show_failures: Print a line for each failed run.
            update_interval: Print after every N finished runs.
            display_metrics: Metrics of the last finished run to show on each line.
        """
        super().__init__(total)
        self.title = title
        self.show_failures = show_failures
        self.update_interval = max(1, update_interval)
        self._display_metrics = normalize_display_metrics(display_metrics)
        self._since_print = 0
        self._last_metrics: dict[str, Any] = {}

    def __call__(self, event: Event) -> None:
        kind = self.apply(event)
        if kind == "run_finished":
            if event.payload:
                self._last_metrics = finished_metrics(event)
            self._since_print += 1
            if self._since_print >= self.update_interval:
                self._since_print = 0
                self._print_progress()
        elif kind == "run_failed":
            if self.show_failures:
                error = payload_text(event, "error", "unknown", 50)
                print(f"  [FAIL] {(event.run_id or '')[:12]}... ({error})")
            self._print_progress()

    def _print_progress(self) -> None:
        done = self.completed + self.failed
        pct = done / self.total * 100 if self.total > 0 else 0
        shown = metrics_text(self._display_metrics, self._last_metrics)
        tail = f" | {' '.join(shown)}" if shown else ""
        print(
            f"  [{self.title}] {done}/{self.total} ({pct:.0f}%) "
            f"ok={self.completed} fail={self.failed} skip={self.skipped} "
            f"running={self.running} ETA: {self.eta_text()}{tail}"
        )

    def __enter__(self) -> SimpleProgressTracker:
        print(f"\n{self.title}")
        print(_RULE)
        return self

    def __exit__(self, *args: Any) -> None:
        interrupted = bool(args) and args[0] is KeyboardInterrupt
        print(_RULE)
        verb = "Interrupted after" if interrupted else "Completed in"
        print(f"{verb} {self.elapsed:.1f}s")
        print(f"  Success: {self.completed}")
        print(f"  Failed: {self.failed}")
        print(f"  Skipped: {self.skipped}")

    def get_console(self) -> Any | None:
        """Plain output has no rich Console: None."""
        return None
