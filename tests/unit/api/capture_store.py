"""In-memory stores for the capture/result tests (the Store protocol, nothing more)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

from metalab.types import ArtifactDescriptor, Metric, RunRecord, Status


class MemoryStore:
    """Keeps everything in dicts; artifacts get ``mem://`` URIs (read back via get_artifact)."""

    def __init__(self) -> None:
        self.records: dict[str, RunRecord] = {}
        self.blobs: dict[str, bytes] = {}
        self.artifacts: dict[str, list[ArtifactDescriptor]] = {}
        self.derived: dict[str, dict[str, Metric]] = {}
        self.logs: dict[tuple[str, str], str] = {}
        self.manifests: dict[str, dict[str, Any]] = {}

    def put_run_record(self, record: RunRecord) -> None:
        self.records[record.run_id] = record

    def get_run_record(self, run_id: str) -> RunRecord | None:
        return self.records.get(run_id)

    def list_run_records(self, experiment_id: str | None = None) -> list[RunRecord]:
        return [r for r in self.records.values() if experiment_id in (None, r.experiment_id)]

    def run_exists(self, run_id: str) -> bool:
        return run_id in self.records

    def put_artifact(
        self, data: bytes | Path, descriptor: ArtifactDescriptor
    ) -> ArtifactDescriptor:
        run_id = descriptor.metadata["_run_id"]
        uri = f"mem://{run_id}/{descriptor.name}"
        self.blobs[uri] = data.read_bytes() if isinstance(data, Path) else data
        stored = dataclasses.replace(descriptor, uri=uri)
        self.artifacts.setdefault(run_id, []).append(stored)
        return stored

    def get_artifact(self, uri: str) -> bytes:
        if uri not in self.blobs:
            raise FileNotFoundError(uri)
        return self.blobs[uri]

    def list_artifacts(self, run_id: str) -> list[ArtifactDescriptor]:
        return list(self.artifacts.get(run_id, []))

    def put_derived(self, run_id: str, derived: dict[str, Metric]) -> None:
        self.derived[run_id] = dict(derived)

    def get_derived(self, run_id: str) -> dict[str, Metric] | None:
        return self.derived.get(run_id)

    def derived_exists(self, run_id: str) -> bool:
        return run_id in self.derived

    def put_log(self, run_id: str, name: str, content: str, label: str | None = None) -> None:
        self.logs[(run_id, name)] = content

    def get_log(self, run_id: str, name: str) -> str | None:
        return self.logs.get((run_id, name))

    def get_experiment_manifest(self, experiment_id: str) -> dict[str, Any] | None:
        return self.manifests.get(experiment_id)


class DataStore(MemoryStore):
    """A MemoryStore that also keeps structured results (SupportsStructuredResults)."""

    def __init__(self) -> None:
        super().__init__()
        self.results: dict[str, dict[str, dict[str, Any]]] = {}

    def put_result(
        self,
        run_id: str,
        name: str,
        data: Any,
        dtype: str | None = None,
        shape: list[int] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.results.setdefault(run_id, {})[name] = {
            "data": data,
            "dtype": dtype,
            "shape": shape,
            "metadata": metadata or {},
        }

    def get_result(self, run_id: str, name: str) -> dict[str, Any] | None:
        return self.results.get(run_id, {}).get(name)

    def list_results(self, run_id: str) -> list[str]:
        return list(self.results.get(run_id, {}))


class LogPathStore(MemoryStore):
    """A MemoryStore that streams logs to files under ``root`` (SupportsLogPath)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def get_log_path(self, run_id: str, name: str) -> Path:
        path = self.root / "logs" / f"{run_id}_{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def record(
    run_id: str,
    *,
    status: Status = Status.SUCCESS,
    metrics: dict[str, Metric] | None = None,
    params: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    duration_ms: int = 100,
    experiment_id: str = "exp:1.0",
) -> RunRecord:
    """A finished run record with fixed timestamps."""
    start = datetime(2026, 1, 2, 3, 4, 5)
    return RunRecord(
        run_id=run_id,
        experiment_id=experiment_id,
        status=status,
        context_fingerprint="ctx",
        params_fingerprint="par",
        seed_fingerprint="seed",
        started_at=start,
        finished_at=start,
        duration_ms=duration_ms,
        metrics=metrics or {},
        params_resolved=params or {},
        tags=tags or [],
    )
