"""Progress trackers, metric display and the results report."""

from __future__ import annotations

import io

import pytest

import metalab.progress as progress
from metalab.events import Event
from metalab.progress import (
    MetricDisplay,
    Progress,
    ProgressTracker,
    SimpleProgressTracker,
    create_progress_tracker,
    normalize_display_metrics,
)
from metalab.progress.display import display_results
from metalab.result import Results
from metalab.types import Status
from tests.unit.api.capture_store import MemoryStore, record


def test_metric_display_formats() -> None:
    assert MetricDisplay.normalize("best_f:.2f") == MetricDisplay("best_f", format=".2f")
    assert MetricDisplay.normalize("loss").label == "loss"
    assert MetricDisplay("x", format=">6.1f").format_value(2.25) == "   2.2"
    assert MetricDisplay("x", format=".1f").format_value("text") == "text"
    assert MetricDisplay("ok").format_value(True) == "✓"
    assert MetricDisplay("v").format_value(0.00001) == "1.00e-05"
    assert MetricDisplay("v").format_value(3.14159) == "3.142"
    assert MetricDisplay("c", formatter=lambda v: f"<{v}>").format_value(1) == "<1>"
    with pytest.raises(TypeError):
        MetricDisplay.normalize(3)  # type: ignore[arg-type]
    assert normalize_display_metrics(None) == []


def test_progress_config_defaults() -> None:
    assert Progress() == Progress(title=None, style="auto", display_metrics=None)


def test_simple_tracker_counts_and_prints(capsys: pytest.CaptureFixture[str]) -> None:
    tracker = SimpleProgressTracker(total=4, title="T", display_metrics=["loss:.1f"])
    assert isinstance(tracker, ProgressTracker)
    with tracker:
        tracker(Event.run_started("r1"))
        assert tracker.running == 1
        tracker(Event.run_finished("r1", metrics={"loss": 0.25}))
        tracker(Event.run_failed("r2aaaaaaaaaaaaaa", error="bad thing"))
        tracker(Event.run_skipped("r3"))
        tracker(Event.progress(None, current=3, total=5, running=2))
    out = capsys.readouterr().out
    assert (tracker.completed, tracker.failed, tracker.skipped) == (1, 1, 1)
    assert (tracker.total, tracker.running) == (5, 2)
    assert "[T] 1/4 (25%) ok=1 fail=0 skip=0 running=0" in out and "| loss=0.2" in out
    assert "[FAIL] r2aaaaaaaaaa... (bad thing)" in out
    assert "Success: 1" in out and "Completed in" in out
    assert tracker.get_console() is None


def test_factory_styles(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(create_progress_tracker(style="simple"), SimpleProgressTracker)
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert isinstance(create_progress_tracker(total=3), SimpleProgressTracker)


def test_rich_tracker(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("rich")
    from rich.console import Console

    assert progress.HAS_RICH is True
    buffer = io.StringIO()
    tracker = create_progress_tracker(
        total=2, title="Sweep", console=Console(file=buffer, width=120), display_metrics=["acc"]
    )
    assert isinstance(tracker, progress.RichProgressTracker)
    with tracker:
        tracker(Event.run_started("run-one"))
        tracker(Event.run_finished("run-one", duration_ms=12, metrics={"acc": 0.5}))
        tracker(Event.run_failed("run-two", error="bad"))
        tracker(Event.progress(None, current=2, total=3, running=0))
    text = buffer.getvalue()
    assert "Execution Complete" in text and "acc=0.5" in text
    assert (tracker.completed, tracker.failed, tracker.total) == (1, 1, 3)
    assert tracker.get_console() is not None


def test_display_results_plain(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pandas")
    records = [
        record("r1", metrics={"algorithm": "a", "accuracy": 0.5}),
        record("r2", metrics={"algorithm": "b", "accuracy": 0.9}, duration_ms=300),
        record("r3", status=Status.FAILED),
    ]
    display_results(Results(MemoryStore(), records), show_by_group=["algorithm"])
    out = capsys.readouterr().out
    assert "Total runs: 3" in out and "Success: 2" in out and "Failed: 1" in out
    assert "Timing: mean=200.0ms, total=0.4s" in out
    assert "b: mean=9.00e-01, best=9.00e-01" in out
    assert "Best run: r2... accuracy=9.000000e-01" in out

    display_results(Results(MemoryStore(), []))
    assert "No results to display." in capsys.readouterr().out


def test_display_results_rich() -> None:
    pytest.importorskip("pandas")
    pytest.importorskip("rich")
    from rich.console import Console

    buffer = io.StringIO()
    records = [record("r1", metrics={"loss": 0.3, "model": "m"})]
    display_results(Results(MemoryStore(), records), console=Console(file=buffer, width=100))
    text = buffer.getvalue()
    assert "Results Summary" in text and "Best Result" in text and "Model: m" in text
