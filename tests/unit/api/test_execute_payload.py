"""execute_payload: injection by name, records, timing, provenance, logs."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from metalab.capture import Capture
from metalab.core.whereabouts import process_start, slurm_job
from metalab.executor.core import execute_payload
from metalab.operation import OperationWrapper, operation
from metalab.runtime import Runtime
from metalab.seeds.bundle import SeedBundle
from metalab.seeds.plan import SeedPlan
from metalab.store.base import Store
from metalab.store.file import FileStoreConfig
from metalab.types import RunRecord, Status


@pytest.fixture
def store(tmp_path: Path) -> Any:
    return FileStoreConfig(root=str(tmp_path / "store")).connect()


def bundle() -> SeedBundle:
    return next(iter(SeedPlan(base=3, replicates=1)))


def execute(store: Store, op: OperationWrapper, **extra: Any) -> RunRecord:
    arguments: dict[str, Any] = {
        "run_id": "r1",
        "experiment_id": "e:1",
        "context_spec": {"c": 1},
        "params_resolved": {"x": 2},
        "seed_bundle": bundle(),
        "fingerprints": {"context": "cf", "params": "pf", "seed": "sf"},
        "metadata": {"hint": True},
        "operation": op,
        "store": store,
        "worker_id": "thread:4",
    }
    arguments.update(extra)
    return execute_payload(**arguments)


def test_operation_receives_what_it_asks_for(store: Store) -> None:
    seen: dict[str, Any] = {}

    @operation
    def op(
        context: Any, params: dict[str, Any], seeds: SeedBundle, runtime: Runtime, capture: Capture
    ) -> None:
        seen.update(context=context, params=params, seeds=seeds, runtime=runtime)
        capture.metric("m", 1.5)

    record = execute(store, op)
    assert seen["context"] == {"c": 1}
    assert seen["params"] == {"x": 2}
    assert isinstance(seen["seeds"], SeedBundle)
    assert seen["runtime"].metadata == {"hint": True}
    assert record.status is Status.SUCCESS
    assert record.metrics == {"m": 1.5}
    assert (record.context_fingerprint, record.params_fingerprint, record.seed_fingerprint) == (
        "cf",
        "pf",
        "sf",
    )
    assert record.provenance.executor_id == "thread"
    assert record.provenance.code_hash == op.code_hash
    assert record.duration_ms >= 0
    assert record.finished_at >= record.started_at
    stored = store.get_run_record("r1")
    assert stored is not None and stored.status is Status.SUCCESS


def test_returned_record_keeps_its_status_metrics_and_tags(store: Store) -> None:
    @operation
    def op(capture: Capture) -> RunRecord:
        capture.metric("captured", 1)
        return RunRecord.success(metrics={"returned": 2}, tags=["t"])

    record = execute(store, op)
    assert record.metrics == {"returned": 2, "captured": 1}
    assert record.tags == ["t"]


def test_exception_is_the_runs_failure(store: Store) -> None:
    @operation
    def op(capture: Capture) -> None:
        capture.metric("before", 1)
        raise KeyError("missing")

    record = execute(store, op)
    assert record.status is Status.FAILED
    assert record.error is not None
    assert record.error["type"] == "KeyError"
    assert "missing" in record.error["message"]
    assert "Traceback" in (record.error.get("traceback") or "")
    assert record.metrics == {"before": 1}
    assert record.params_resolved == {"x": 2}


def test_running_record_is_written_first(store: Store) -> None:
    statuses: list[Status] = []

    @operation
    def op() -> None:
        stored = store.get_run_record("r1")
        assert stored is not None
        statuses.append(stored.status)

    execute(store, op)
    assert statuses == [Status.RUNNING]


def test_third_party_logs_are_saved_and_handler_removed(store: Store) -> None:
    @operation
    def op() -> None:
        logging.getLogger("some.library").warning("library says hi")

    root = logging.getLogger()
    handlers = list(root.handlers)
    execute(store, op, capture_third_party_logs=True)
    assert root.handlers == handlers
    assert "library says hi" in (store.get_log("r1", "logging") or "")


def test_unimportable_derived_metric_is_skipped(store: Store) -> None:
    @operation
    def op(capture: Capture) -> None:
        capture.metric("y", 1)

    record = execute(store, op, derived_metric_refs=["no.such.module:fn"])
    assert record.status is Status.SUCCESS


def test_running_and_final_records_name_the_executing_process(store: Store) -> None:
    seen: list[RunRecord | None] = []

    @operation
    def op(capture: Capture) -> None:
        seen.append(store.get_run_record("r1"))

    record = execute(store, op)
    running = seen[0]
    assert running is not None and running.status is Status.RUNNING
    assert running.provenance.host == socket.gethostname()
    executor = running.provenance.extra["executor"]
    assert executor == {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_start": process_start(os.getpid()),
        "pid_ns": os.readlink("/proc/self/ns/pid"),
        "slurm_job": slurm_job(),
    }
    assert isinstance(executor["pid_start"], int)
    assert record.provenance == running.provenance
    stored = store.get_run_record("r1")
    assert stored is not None and stored.provenance.extra["executor"] == executor
