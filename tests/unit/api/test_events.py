"""Events: payloads of each kind and best-effort delivery."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from metalab.events import Event, EventEmitter, EventKind, emit_event


def test_factories_build_documented_payloads() -> None:
    assert Event.run_started("r", executor="thread").payload == {"executor": "thread"}
    assert Event.run_failed("r", "boom", tb="x").payload == {"error": "boom", "tb": "x"}
    assert Event.run_skipped("r").payload == {"reason": "already exists"}
    assert Event.artifact_saved("r", "a", "file:///a", kind="json").payload == {
        "name": "a",
        "uri": "file:///a",
        "kind": "json",
    }
    progress = Event.progress(None, 3, 10, "m", running=2)
    assert (progress.kind, progress.run_id) == (EventKind.PROGRESS, None)
    assert progress.payload == {"current": 3, "total": 10, "message": "m", "running": 2}
    assert Event.log("r", "hi").payload == {"message": "hi", "level": "info"}
    assert isinstance(Event.run_finished("r").timestamp, datetime)
    assert EventKind("artifact_saved") is EventKind.ARTIFACT_SAVED
    assert isinstance(EventKind.LOG, str)


def test_emitter_forwards_each_kind() -> None:
    received: list[Event] = []
    emitter = EventEmitter(received.append)
    emitter.run_started("r")
    emitter.run_finished("r", duration_ms=1)
    emitter.run_failed("r", "e")
    emitter.run_skipped("r", "resume")
    emitter.artifact_saved("r", "n", "u")
    emitter.progress(1, 2, run_id="r")
    emitter.log("text", level="warning")
    assert [e.kind.value for e in received] == [
        "run_started",
        "run_finished",
        "run_failed",
        "run_skipped",
        "artifact_saved",
        "progress",
        "log",
    ]
    assert received[5].payload["running"] == 0
    EventEmitter().run_started("r")


def test_failing_callbacks_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("hook down")

    with caplog.at_level(logging.WARNING, logger="metalab.events"):
        emit_event(broken, Event.run_started("r"))
    assert "Event callback failed" in caplog.text and "hook down" in caplog.text
    emit_event(None, Event.run_started("r"))
