"""Records of runs: status, provenance, artifact descriptors and the run record itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

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
        run_id: str = "",
        experiment_id: str = "",
        context_fingerprint: str = "",
        params_fingerprint: str = "",
        seed_fingerprint: str = "",
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        metrics: dict[str, Any] | None = None,
        provenance: Provenance | None = None,
        params_resolved: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        artifacts: list[ArtifactDescriptor] | None = None,
        notes: str | None = None,
    ) -> RunRecord:
        """A finished, successful run (times default to now)."""
        start, end = _span(started_at, finished_at)
        return cls(
            run_id=run_id,
            experiment_id=experiment_id,
            status=Status.SUCCESS,
            context_fingerprint=context_fingerprint,
            params_fingerprint=params_fingerprint,
            seed_fingerprint=seed_fingerprint,
            started_at=start,
            finished_at=end,
            duration_ms=_millis(start, end),
            metrics=metrics or {},
            provenance=provenance or Provenance(),
            params_resolved=params_resolved or {},
            tags=tags or [],
            artifacts=artifacts or [],
            notes=notes,
        )

    @classmethod
    def failed(
        cls,
        *,
        run_id: str = "",
        experiment_id: str = "",
        context_fingerprint: str = "",
        params_fingerprint: str = "",
        seed_fingerprint: str = "",
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        error_type: str = "",
        error_message: str = "",
        error_traceback: str | None = None,
        metrics: dict[str, Any] | None = None,
        provenance: Provenance | None = None,
        params_resolved: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        artifacts: list[ArtifactDescriptor] | None = None,
    ) -> RunRecord:
        """A failed run; the error is ``{"type", "message", "traceback"}``."""
        start, end = _span(started_at, finished_at)
        return cls(
            run_id=run_id,
            experiment_id=experiment_id,
            status=Status.FAILED,
            context_fingerprint=context_fingerprint,
            params_fingerprint=params_fingerprint,
            seed_fingerprint=seed_fingerprint,
            started_at=start,
            finished_at=end,
            duration_ms=_millis(start, end),
            metrics=metrics or {},
            provenance=provenance or Provenance(),
            error={"type": error_type, "message": error_message, "traceback": error_traceback},
            params_resolved=params_resolved or {},
            tags=tags or [],
            artifacts=artifacts or [],
        )

    @classmethod
    def cancelled(
        cls,
        *,
        run_id: str = "",
        experiment_id: str = "",
        context_fingerprint: str = "",
        params_fingerprint: str = "",
        seed_fingerprint: str = "",
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
        metrics: dict[str, Any] | None = None,
        provenance: Provenance | None = None,
        params_resolved: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> RunRecord:
        """A run that was cancelled before it finished."""
        start, end = _span(started_at, finished_at)
        return cls(
            run_id=run_id,
            experiment_id=experiment_id,
            status=Status.CANCELLED,
            context_fingerprint=context_fingerprint,
            params_fingerprint=params_fingerprint,
            seed_fingerprint=seed_fingerprint,
            started_at=start,
            finished_at=end,
            duration_ms=_millis(start, end),
            metrics=metrics or {},
            provenance=provenance or Provenance(),
            params_resolved=params_resolved or {},
            tags=tags or [],
        )

    @classmethod
    def running(
        cls,
        *,
        run_id: str = "",
        experiment_id: str = "",
        context_fingerprint: str = "",
        params_fingerprint: str = "",
        seed_fingerprint: str = "",
        started_at: datetime | None = None,
        provenance: Provenance | None = None,
        params_resolved: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> RunRecord:
        """A run in progress: ``finished_at`` is the start and ``duration_ms`` 0 until it ends."""
        start = started_at or datetime.now()
        return cls(
            run_id=run_id,
            experiment_id=experiment_id,
            status=Status.RUNNING,
            context_fingerprint=context_fingerprint,
            params_fingerprint=params_fingerprint,
            seed_fingerprint=seed_fingerprint,
            started_at=start,
            finished_at=start,
            duration_ms=0,
            provenance=provenance or Provenance(),
            params_resolved=params_resolved or {},
            tags=tags or [],
        )
