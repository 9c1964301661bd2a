"""`execute_payload`: one run, the same way in every executor.

The run is recorded as ``running`` before the operation starts, then as ``success`` or
``failed`` with its timing, metrics, artifacts and provenance. The provenance names the
host and, as ``extra["executor"]``, this process (`metalab.core.whereabouts.current`), so
that a reader can tell a run whose process is gone (docs/store-format.md, ``executor``).
The operation receives, by name, those of ``context``, ``params``, ``seeds``, ``runtime``
and ``capture`` it asks for. An exception in the operation is the run's failure, never the caller's.
"""

from __future__ import annotations

import io
import logging
import socket
import traceback
from datetime import datetime
from typing import TYPE_CHECKING, Any

import metalab.runtime
from metalab.capture import Capture
from metalab.core import whereabouts
from metalab.types import Provenance, RunRecord

if TYPE_CHECKING:
    from metalab.operation import OperationWrapper
    from metalab.seeds.bundle import SeedBundle
    from metalab.store.base import Store

logger = logging.getLogger(__name__)

_LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def execute_payload(
    *,
    run_id: str,
    experiment_id: str,
    context_spec: Any,
    params_resolved: dict[str, Any],
    seed_bundle: SeedBundle,
    fingerprints: dict[str, str],
    metadata: dict[str, Any],
    operation: OperationWrapper,
    store: Store,
    worker_id: str,
    derived_metric_refs: list[str] | None = None,
    capture_third_party_logs: bool = False,
) -> RunRecord:
    """Run ``operation`` once and return its final record (also written to ``store``).

    Args:
        worker_id: ``"kind:n"``, e.g. ``"thread:1"``; ``kind`` is recorded as the
            provenance's executor id and ``worker_id`` appears in the run's log.
        derived_metric_refs: derived metrics to compute and store after a success.
        capture_third_party_logs: also save what the root logger receives during the
            run as the run's ``logging`` log (a handler is added, never replaced).
    """
    started_at = datetime.now()
    runtime = metalab.runtime.create_runtime(run_id=run_id, metadata=metadata)
    capture = Capture(
        store=store,
        run_id=run_id,
        artifact_dir=runtime.scratch_dir / "artifacts",
        worker_id=worker_id,
    )
    identity: dict[str, Any] = {
        "run_id": run_id,
        "experiment_id": experiment_id,
        "context_fingerprint": fingerprints.get("context", ""),
        "params_fingerprint": fingerprints.get("params", ""),
        "seed_fingerprint": fingerprints.get("seed", ""),
        "params_resolved": params_resolved,
    }
    provenance = Provenance(
        code_hash=operation.code_hash,
        executor_id=worker_id.split(":")[0],
        host=socket.gethostname(),
        extra={"executor": whereabouts.current()},
    )
    log_buffer, log_handler = (
        _attach_root_log_capture() if capture_third_party_logs else (None, None)
    )
    store.put_run_record(
        RunRecord.running(started_at=started_at, provenance=provenance, **identity)
    )
    try:
        try:
            outcome = operation.run(
                context=context_spec,
                params=params_resolved,
                seeds=seed_bundle,
                runtime=runtime,
                capture=capture,
            )
            if outcome is None:
                outcome = RunRecord.success()
            captured = capture.finalize()
            finished_at = datetime.now()
            record = RunRecord(
                status=outcome.status,
                started_at=started_at,
                finished_at=finished_at,
                duration_ms=_milliseconds(started_at, finished_at),
                metrics={**outcome.metrics, **captured["metrics"]},
                provenance=provenance,
                tags=outcome.tags,
                artifacts=captured["artifacts"],
                **identity,
            )
            if derived_metric_refs:
                _store_derived_metrics(record, store, derived_metric_refs)
        except Exception as exc:  # noqa: BLE001 - a failing run is a recorded outcome
            captured = capture.finalize()
            record = RunRecord.failed(
                started_at=started_at,
                finished_at=datetime.now(),
                error_type=type(exc).__name__,
                error_message=str(exc),
                error_traceback=traceback.format_exc(),
                metrics=captured["metrics"],
                provenance=provenance,
                artifacts=captured["artifacts"],
                **identity,
            )
        try:
            store.put_run_record(record)
        except Exception as exc:  # noqa: BLE001 - the record is still returned
            logger.warning(f"Failed to persist final record for {run_id}: {exc}")
        return record
    finally:
        if log_handler is not None and log_buffer is not None:
            _detach_root_log_capture(log_handler)
            text = log_buffer.getvalue()
            if text:
                store.put_log(run_id, "logging", text)


def _milliseconds(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() * 1000)


def _attach_root_log_capture() -> tuple[io.StringIO, logging.Handler]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    return buffer, handler


def _detach_root_log_capture(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()


def _store_derived_metrics(record: RunRecord, store: Store, refs: list[str]) -> None:
    """Compute the derived metrics that import; a failing import is logged and skipped."""
    from metalab.derived import compute_derived_for_run, import_derived_metric
    from metalab.result import Run

    functions = []
    for ref in refs:
        try:
            functions.append(import_derived_metric(ref))
        except Exception as exc:  # noqa: BLE001 - logged; other metrics still computed
            logger.warning(f"Failed to import derived metric '{ref}': {exc}")
    if functions:
        store.put_derived(record.run_id, compute_derived_for_run(Run(record, store), functions))
