"""The on-disk form of run records: versioned dumps and tolerant loads.

Loads accept records written by any earlier schema version: a missing field takes its
default, so old runs stay readable as the format grows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from metalab.types import ArtifactDescriptor, Provenance, RunRecord, Status

SCHEMA_VERSION = "0.1"

_PROVENANCE_FIELDS = ("code_hash", "python_version", "metalab_version", "executor_id", "host")


def _timestamp(value: Any) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value
    return datetime.now()


def _provenance(data: Any) -> Provenance:
    if not isinstance(data, dict):
        return Provenance()
    known = {name: data.get(name) for name in _PROVENANCE_FIELDS}
    return Provenance(**known, extra=data.get("extra", {}))


def load_run_record(data: dict[str, Any]) -> RunRecord:
    """A `RunRecord` from its stored dict; missing fields take their defaults.

    A missing status reads as failed, missing timestamps as now.
    """
    status = data.get("status", "failed")
    return RunRecord(
        run_id=data.get("run_id", ""),
        experiment_id=data.get("experiment_id", ""),
        status=Status(status) if isinstance(status, str) else status,
        context_fingerprint=data.get("context_fingerprint", ""),
        params_fingerprint=data.get("params_fingerprint", ""),
        seed_fingerprint=data.get("seed_fingerprint", ""),
        started_at=_timestamp(data.get("started_at")),
        finished_at=_timestamp(data.get("finished_at")),
        duration_ms=data.get("duration_ms", 0),
        metrics=data.get("metrics", {}),
        provenance=_provenance(data.get("provenance", {})),
        error=data.get("error"),
        params_resolved=data.get("params_resolved", {}),
        tags=data.get("tags", []),
        warnings=data.get("warnings", []),
        notes=data.get("notes"),
        artifacts=[load_artifact_descriptor(a) for a in data.get("artifacts", [])],
    )


def load_artifact_descriptor(data: dict[str, Any]) -> ArtifactDescriptor:
    """An `ArtifactDescriptor` from its stored dict; missing fields take their defaults."""
    return ArtifactDescriptor(
        artifact_id=data.get("artifact_id", ""),
        name=data.get("name", ""),
        kind=data.get("kind", "blob"),
        format=data.get("format", "binary"),
        uri=data.get("uri", ""),
        content_hash=data.get("content_hash"),
        size_bytes=data.get("size_bytes"),
        metadata=data.get("metadata", {}),
    )


def dump_run_record(record: RunRecord) -> dict[str, Any]:
    """The JSON-ready dict stored for ``record``, tagged with ``_schema_version``."""
    prov = record.provenance
    return {
        "_schema_version": SCHEMA_VERSION,
        "run_id": record.run_id,
        "experiment_id": record.experiment_id,
        "status": record.status.value,
        "context_fingerprint": record.context_fingerprint,
        "params_fingerprint": record.params_fingerprint,
        "seed_fingerprint": record.seed_fingerprint,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat(),
        "duration_ms": record.duration_ms,
        "metrics": record.metrics,
        "provenance": {
            **{name: getattr(prov, name) for name in _PROVENANCE_FIELDS},
            "extra": prov.extra,
        },
        "error": record.error,
        "params_resolved": record.params_resolved,
        "tags": record.tags,
        "warnings": record.warnings,
        "notes": record.notes,
        "artifacts": [dump_artifact_descriptor(a) for a in record.artifacts],
    }


def dump_artifact_descriptor(descriptor: ArtifactDescriptor) -> dict[str, Any]:
    """The JSON-ready dict stored for ``descriptor``."""
    return {
        "artifact_id": descriptor.artifact_id,
        "name": descriptor.name,
        "kind": descriptor.kind,
        "format": descriptor.format,
        "uri": descriptor.uri,
        "content_hash": descriptor.content_hash,
        "size_bytes": descriptor.size_bytes,
        "metadata": descriptor.metadata,
    }


def migrate_v01_to_v02(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 0.1 to 0.2: the formats are identical, so the data passes through unchanged."""
    return data


def get_schema_version(data: dict[str, Any]) -> str:
    """The ``_schema_version`` a stored record was written with ("0.1" when absent)."""
    version: str = data.get("_schema_version", "0.1")
    return version
