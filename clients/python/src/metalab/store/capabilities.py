"""Optional store features, each a runtime-checkable protocol: test with ``isinstance``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable


@runtime_checkable
class SupportsWorkingDirectory(Protocol):
    """The store has a local directory (SLURM staging, context manifests, log streaming)."""

    def get_working_directory(self) -> Path:
        """The store's root directory."""
        ...


@runtime_checkable
class SupportsExperimentManifests(Protocol):
    """The store keeps versioned experiment manifests."""

    def put_experiment_manifest(
        self,
        experiment_id: str,
        manifest: dict[str, Any],
        timestamp: str | None = None,
    ) -> None:
        """Store ``manifest`` under ``timestamp`` (now when None)."""
        ...


@runtime_checkable
class SupportsArtifactOpen(Protocol):
    """The store opens its artifacts for binary reading, whatever their URI scheme."""

    def open_artifact(self, uri: str) -> BinaryIO:
        """A binary file object for ``uri``; FileNotFoundError when it is missing."""
        ...


@runtime_checkable
class SupportsLogPath(Protocol):
    """The store gives file paths that loggers stream into."""

    def get_log_path(self, run_id: str, name: str) -> Path:
        """Where the log ``name`` of ``run_id`` is written (its directory exists)."""
        ...


@runtime_checkable
class SupportsStructuredResults(Protocol):
    """The store keeps structured (JSON) results of runs, besides artifacts."""

    def put_result(
        self,
        run_id: str,
        name: str,
        data: Any,
        dtype: str | None = None,
        shape: list[int] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Store the result ``name`` of ``run_id``."""
        ...

    def get_result(self, run_id: str, name: str) -> dict[str, Any] | None:
        """``{"data", "dtype", "shape", "metadata"}`` of the result, or None."""
        ...

    def list_results(self, run_id: str) -> list[str]:
        """The result names of ``run_id``."""
        ...


@runtime_checkable
class SupportsLogListing(Protocol):
    """The store lists the logs of a run."""

    def list_logs(self, run_id: str) -> list[str]:
        """The log names of ``run_id`` (e.g. ["run", "stderr", "stdout"])."""
        ...

    def get_log(self, run_id: str, name: str) -> str | None:
        """The log ``name`` of ``run_id``, or None."""
        ...
