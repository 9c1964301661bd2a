"""`Store`: what every storage backend offers for records, artifacts, derived metrics and logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from metalab.types import ArtifactDescriptor, Metric, RunRecord


class Store(Protocol):
    """Persists run records and their artifacts; writes are atomic and safe to run concurrently.

    Optional features (working directory, manifests, log listing, ...) are the
    ``Supports*`` protocols of `metalab.store.capabilities`.
    """

    def put_run_record(self, record: RunRecord) -> None:
        """Store ``record`` (replacing an earlier one with its run_id)."""
        ...

    def get_run_record(self, run_id: str) -> RunRecord | None:
        """The record of ``run_id``, or None."""
        ...

    def list_run_records(self, experiment_id: str | None = None) -> list[RunRecord]:
        """All records, or those of ``experiment_id``."""
        ...

    def run_exists(self, run_id: str) -> bool:
        """Whether a record of ``run_id`` is stored."""
        ...

    def put_artifact(
        self, data: bytes | Path, descriptor: ArtifactDescriptor
    ) -> ArtifactDescriptor:
        """Store an artifact's bytes (or the file at a path); the result carries its final URI."""
        ...

    def get_artifact(self, uri: str) -> bytes:
        """The bytes of the artifact at ``uri``."""
        ...

    def list_artifacts(self, run_id: str) -> list[ArtifactDescriptor]:
        """The artifacts stored for ``run_id``."""
        ...

    def put_derived(self, run_id: str, derived: dict[str, Metric]) -> None:
        """Store metrics computed after the run."""
        ...

    def get_derived(self, run_id: str) -> dict[str, Metric] | None:
        """The derived metrics of ``run_id``, or None."""
        ...

    def derived_exists(self, run_id: str) -> bool:
        """Whether derived metrics of ``run_id`` are stored."""
        ...

    def put_log(self, run_id: str, name: str, content: str, label: str | None = None) -> None:
        """Store the log ``name`` (e.g. "stdout") of ``run_id``."""
        ...

    def get_log(self, run_id: str, name: str) -> str | None:
        """The log ``name`` of ``run_id``, or None."""
        ...

    def get_experiment_manifest(self, experiment_id: str) -> dict[str, Any] | None:
        """The newest manifest stored for ``experiment_id`` ("name:version"), or None."""
        ...
