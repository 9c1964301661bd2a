"""Records of runs: status, provenance, artifact descriptors and the run record itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, TypedDict, Unpack

Metric = float | int | str | bool
"""A scalar metric value."""


class Status(str, Enum):  # noqa: UP042 - str(Status.X) as upstream
    """How a run ended (or that it is still going)."""

    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RUNNING = "running"


@dataclass(frozen=True)
class Provenance:
    """Where and with what code and environment a run executed."""

    code_hash: str | None = None
    python_version: str | None = None
    metalab_version: str | None = None
    executor_id: str | None = None
    host: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArtifactDescriptor:
    """What a stored artifact is and where it lives (``uri``)."""

    artifact_id: str
    name: str
    kind: str
    format: str
    uri: str
    content_hash: str | None = None
    size_bytes: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _span(started_at: datetime | None, finished_at: datetime | None) -> tuple[datetime, datetime]:
    """Start and end, each defaulting to now (one clock reading for both)."""
    now = datetime.now()
    return started_at or now, finished_at or now


def _millis(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() * 1000)


class RunFields(TypedDict, total=False):
    """What every ``RunRecord`` constructor takes (``success``, ``failed``, ``cancelled``,
    ``running``); each defaults to empty, ``started_at`` to now."""

    run_id: str
    experiment_id: str
    context_fingerprint: str
    params_fingerprint: str
    seed_fingerprint: str
    started_at: datetime | None
    provenance: Provenance | None
    params_resolved: dict[str, Any] | None
    tags: list[str] | None


@dataclass
class RunRecord:
    """Everything recorded about one run; small, serialisable, one row of a results table."""

    run_id: str
    experiment_id: str
    status: Status
    context_fingerprint: str
    params_fingerprint: str
    seed_fingerprint: str
    started_at: datetime
    finished_at: datetime
    duration_ms: int
    metrics: dict[str, Metric] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    error: dict[str, Any] | None = None
    params_resolved: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    notes: str | None = None
    artifacts: list[ArtifactDescriptor] = field(default_factory=list)

    @classmethod
    def success(
        cls,
        *,
        finished_at: datetime | None = None,
        metrics: dict[str, Any] | None = None,
        artifacts: list[ArtifactDescriptor] | None = None,
        notes: str | None = None,
        **run: Unpack[RunFields],
    ) -> RunRecord:
        """A finished, successful run (times default to now)."""
        start, end = _span(run.get("started_at"), finished_at)
        more = {"metrics": metrics or {}, "artifacts": artifacts or [], "notes": notes}
        return cls._record(Status.SUCCESS, run, start, end, **more)

    @classmethod
    def failed(
        cls,
        *,
        finished_at: datetime | None = None,
        error_type: str = "",
        error_message: str = "",
        error_traceback: str | None = None,
        metrics: dict[str, Any] | None = None,
        artifacts: list[ArtifactDescriptor] | None = None,
        **run: Unpack[RunFields],
    ) -> RunRecord:
        """A failed run; the error is ``{"type", "message", "traceback"}``."""
        start, end = _span(run.get("started_at"), finished_at)
        error = {"type": error_type, "message": error_message, "traceback": error_traceback}
        more = {"metrics": metrics or {}, "error": error, "artifacts": artifacts or []}
        return cls._record(Status.FAILED, run, start, end, **more)

    @classmethod
    def cancelled(
        cls,
        *,
        finished_at: datetime | None = None,
        metrics: dict[str, Any] | None = None,
        **run: Unpack[RunFields],
    ) -> RunRecord:
        """A run that was cancelled before it finished."""
        start, end = _span(run.get("started_at"), finished_at)
        return cls._record(Status.CANCELLED, run, start, end, metrics=metrics or {})

    @classmethod
    def running(cls, **run: Unpack[RunFields]) -> RunRecord:
        """A run in progress: ``finished_at`` is the start and ``duration_ms`` 0 until it ends."""
        start = run.get("started_at") or datetime.now()
        return cls._record(Status.RUNNING, run, start, start)

    @classmethod
    def _record(
        cls, status: Status, run: RunFields, start: datetime, end: datetime, **more: Any
    ) -> RunRecord:
        unknown = sorted(run.keys() - RunFields.__annotations__.keys())
        if unknown:
            raise TypeError(f"RunRecord.{status.value}() got unexpected arguments {unknown}")
        return cls(
            run_id=run.get("run_id", ""),
            experiment_id=run.get("experiment_id", ""),
            status=status,
            context_fingerprint=run.get("context_fingerprint", ""),
            params_fingerprint=run.get("params_fingerprint", ""),
            seed_fingerprint=run.get("seed_fingerprint", ""),
            started_at=start,
            finished_at=end,
            duration_ms=_millis(start, end),
            provenance=run.get("provenance") or Provenance(),
            params_resolved=run.get("params_resolved") or {},
            tags=run.get("tags") or [],
            **more,
        )
