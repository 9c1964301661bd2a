"""LocalRunHandle and RunStatus over controllable futures."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from metalab.events import Event, EventKind
from metalab.executor.handle import LocalRunHandle, RecordFuture, RunStatus
from metalab.store.base import Store
from metalab.store.file import FileStoreConfig
from metalab.types import RunRecord


@pytest.fixture
def store(tmp_path: Path) -> Any:
    return FileStoreConfig(root=str(tmp_path)).connect()


def record(run_id: str, ok: bool = True) -> RunRecord:
    if ok:
        return RunRecord.success(run_id=run_id, experiment_id="e:1")
    return RunRecord.failed(run_id=run_id, experiment_id="e:1", error_type="E", error_message="bad")


def test_status_counts_and_events(store: Store) -> None:
    done: Future[RunRecord] = Future()
    broken: Future[RunRecord] = Future()
    waiting: Future[RunRecord] = Future()
    store.put_run_record(record("skip"))
    events: list[Event] = []
    futures: list[tuple[str, RecordFuture]] = [("a", done), ("b", broken), ("c", waiting)]
    handle = LocalRunHandle(
        futures,
        store,
        ["a", "b", "c", "skip", "later"],
        skipped_run_ids=["skip"],
        on_event=events.append,
    )
    assert [e.kind for e in events] == [EventKind.RUN_SKIPPED]
    done.set_result(record("a"))
    broken.set_result(record("b", ok=False))
    status = handle.status
    assert status == RunStatus(total=5, completed=1, running=1, pending=1, failed=1, skipped=1)
    assert status.done == 3 and status.in_flight == 2
    assert not handle.is_complete
    assert [e.kind for e in events[1:]] == [EventKind.RUN_FINISHED, EventKind.RUN_FAILED]
    assert events[2].payload["error"] == "bad"
    with pytest.raises(TimeoutError, match="c"):
        handle.result(timeout=0.01)
    waiting.set_result(record("c"))
    results = handle.result()
    assert sorted(r.run_id for r in results) == ["a", "b", "c", "skip"]
    assert handle.is_complete
    assert [e.kind for e in events].count(EventKind.RUN_FINISHED) == 2
    assert handle.result() is not None


def test_a_lost_future_does_not_sink_the_batch(store: Store) -> None:
    lost: Future[RunRecord] = Future()
    lost.set_exception(RuntimeError("worker died"))
    ok: Future[RunRecord] = Future()
    ok.set_result(record("ok"))
    handle = LocalRunHandle([("lost", lost), ("ok", ok)], store, ["lost", "ok"])
    assert handle.status.failed == 1
    assert [r.run_id for r in handle.result()] == ["ok"]


def test_identity_and_reconnect(store: Store) -> None:
    handle = LocalRunHandle([], store, [], job_id="job-1")
    assert handle.job_id == "job-1"
    assert handle.store is store
    assert not handle.can_reconnect
    assert handle.reconnect_locator is None
    assert LocalRunHandle([], store, []).job_id.startswith("local-")
    assert str(RunStatus(1, 1, 0, 0, 0)).startswith("RunStatus(total=1")
