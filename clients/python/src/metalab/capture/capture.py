"""Capture: what an operation records during a run (metrics, data, artifacts, files, logs).

The executor creates one ``Capture`` per run and passes it to the operation. Scalars and
structured data are buffered and handed back by :meth:`Capture.finalize`; artifacts are
written to the store as they are captured; log lines stream to the run's log file.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from metalab.capture.logs import LOG_DATE_FORMAT, LOG_FORMAT, RunLog, level_number, logger_name
from metalab.capture.registry import SerializerRegistry
from metalab.store.capabilities import SupportsLogPath, SupportsStructuredResults
from metalab.types import ArtifactDescriptor

if TYPE_CHECKING:
    from metalab.store.base import Store

logger = logging.getLogger(__name__)

_SCRATCH_ROOT = Path("/tmp/metalab_artifacts")
_RUN_LOG = "run"


def content_hash(path: Path) -> str:
    """First 16 hex digits of the SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _as_data(obj: Any) -> tuple[Any, str | None, list[int] | None]:
    """``obj`` as JSON-ready data plus dtype and shape when it is array-like."""
    if hasattr(obj, "tolist"):
        dtype = str(obj.dtype) if hasattr(obj, "dtype") else None
        shape = list(obj.shape) if hasattr(obj, "shape") else None
        return obj.tolist(), dtype, shape
    if hasattr(obj, "numpy"):
        array = obj.numpy()
        return array.tolist(), str(array.dtype), list(array.shape)
    return obj, None, None


class Capture:
    """Records a run's metrics, structured data, artifacts, files and logs.

    Example:
    ```python
    @metalab.operation
    def train(context, params, seeds, capture, runtime):
        capture.log("Starting")
        capture.subscribe_logger("sklearn", level=logging.WARNING)
        capture.metric("accuracy", 0.95)
        capture.metric("loss", 0.3, step=10)          # a time series
        capture.data("confusion", matrix)             # structured data for derived metrics
        capture.artifact("weights", array)            # serialized (json / numpy / pickle)
        capture.file("plot", "/tmp/plot.png", kind="image")
    ```
    """

    LOG_FORMAT = LOG_FORMAT
    LOG_DATE_FORMAT = LOG_DATE_FORMAT

    def __init__(
        self,
        store: Store,
        run_id: str,
        registry: SerializerRegistry | None = None,
        allow_pickle: bool = False,
        artifact_dir: Path | None = None,
        worker_id: str | None = None,
    ) -> None:
        """
        Args:
            store: Where artifacts, logs and structured results go.
            run_id: The run being captured.
            registry: Serializers for :meth:`artifact` (default: a new registry).
            allow_pickle: Allow the pickle serializer (off by default).
            artifact_dir: Scratch directory for files before they reach the store
                (default ``/tmp/metalab_artifacts/<run_id>``).
            worker_id: Worker label added to the log's logger name (e.g. ``"thread:2"``).
        """
        self._store = store
        self._run_id = run_id
        self._registry = registry or SerializerRegistry(allow_pickle=allow_pickle)
        self._allow_pickle = allow_pickle
        self._artifact_dir = artifact_dir or _SCRATCH_ROOT / run_id
        self._worker_id = worker_id

        self._metrics: dict[str, Any] = {}
        self._stepped_metrics: list[dict[str, Any]] = []
        self._results: list[dict[str, Any]] = []
        self._artifacts: list[ArtifactDescriptor] = []
        self._finalized = False

        if isinstance(store, SupportsLogPath):
            log_path = store.get_log_path(run_id, _RUN_LOG)
        else:
            log_path = self._artifact_dir / f"{_RUN_LOG}.log"
        self._log = RunLog(
            log_path,
            logger_name(run_id, worker_id),
            fmt=self.LOG_FORMAT,
            datefmt=self.LOG_DATE_FORMAT,
        )

    def no_archive(self) -> None:
        """Keep this run out of the workspace's archive folders (this project's addition;
        see ``docs/settings-and-workspaces.md``): writes ``runs/{run_id}.no-archive``."""
        from metalab._archive import no_archive_marker
        from metalab.store.capabilities import SupportsWorkingDirectory

        if isinstance(self._store, SupportsWorkingDirectory):
            marker = no_archive_marker(Path(self._store.get_working_directory()), self._run_id)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()

    # ------------------------------------------------------------------ logs

    @property
    def logger(self) -> logging.Logger:
        """The run's Python logger (writes to the run log only, does not propagate)."""
        return self._log.logger

    def log(self, message: str, level: str = "info") -> None:
        """Write ``message`` to the run log at ``level`` ("debug", "info", "warning",
        "error", "critical"; "exception" adds the current traceback)."""
        if level.lower() == "exception":
            self._log.logger.exception(message)
        else:
            self._log.logger.log(level_number(level), message)

    def subscribe_logger(self, name: str, level: int = logging.DEBUG) -> None:
        """Also write records of the named logger (e.g. a library's) to the run log."""
        self._log.subscribe(name, level)

    def unsubscribe_logger(self, name: str) -> None:
        """Stop writing records of the named logger to the run log."""
        self._log.unsubscribe(name)

    def flush(self) -> None:
        """Flush buffered log output to disk."""
        self._log.flush()

    # --------------------------------------------------------------- metrics

    @property
    def metrics(self) -> dict[str, Any]:
        """Scalar metrics captured so far (without ``step``)."""
        return dict(self._metrics)

    def metric(self, name: str, value: float | int | str | bool, step: int | None = None) -> None:
        """Record a scalar. With ``step`` it becomes a point of the series ``name``
        (stored as structured data when the run ends), not a scalar metric."""
        if step is None:
            self._metrics[name] = value
            return
        self._stepped_metrics.append(
            {"name": name, "value": value, "step": step, "timestamp": datetime.now().isoformat()}
        )

    def log_metrics(self, values: dict[str, Any], step: int | None = None) -> None:
        """Record several metrics, all at ``step`` if given."""
        for name, value in values.items():
            self.metric(name, value, step=step)

    # ------------------------------------------------------------------ data

    @property
    def results(self) -> list[dict[str, Any]]:
        """Structured data entries captured so far."""
        return list(self._results)

    def data(self, name: str, obj: Any, *, metadata: dict[str, Any] | None = None) -> None:
        """Record structured data (array, list, dict or scalar) for derived metrics.

        Arrays (numpy, or tensors with ``.numpy()``) are stored as nested lists with their
        dtype and shape, so ``Run.data`` gives an array back. Stores with structured results
        receive the entries when the run ends.
        """
        value, dtype, shape = _as_data(obj)
        self._results.append(
            {
                "name": name,
                "data": value,
                "dtype": dtype,
                "shape": shape,
                "metadata": metadata or {},
            }
        )

    # ------------------------------------------------------------- artifacts

    @property
    def artifacts(self) -> list[ArtifactDescriptor]:
        """Descriptors of the artifacts stored so far."""
        return list(self._artifacts)

    def artifact(
        self,
        name: str,
        obj: Any,
        *,
        kind: str | None = None,
        format: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ArtifactDescriptor:
        """Serialize ``obj`` and store it as artifact ``name``.

        The serializer is the one for ``kind`` ("json", "numpy", "pickle", or one you
        registered), else the first registered one that accepts ``obj``.

        Returns:
            The descriptor as stored (its ``uri`` points into the store).
        """
        serializer = self._registry.find(obj, kind=kind)
        self._artifact_dir.mkdir(parents=True, exist_ok=True)
        written = serializer.dump(obj, self._artifact_dir / name)
        path = Path(written["path"])
        descriptor = self._descriptor(
            name,
            path,
            kind=kind or serializer.kind,
            fmt=format or written.get("format", serializer.format),
            size_bytes=written.get("size_bytes"),
            metadata=metadata,
        )
        return self._put(path, descriptor)

    def file(
        self,
        name: str,
        path: str | Path,
        *,
        kind: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ArtifactDescriptor:
        """Store an existing file as artifact ``name`` (kind "file" unless given; the
        format is the file's extension, or "binary").

        Raises:
            FileNotFoundError: ``path`` does not exist.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"Artifact file not found: {path}")
        descriptor = self._descriptor(
            name,
            path,
            kind=kind or "file",
            fmt=path.suffix.lstrip(".") or "binary",
            size_bytes=path.stat().st_size,
            metadata=metadata,
        )
        return self._put(path, descriptor)

    def figure(
        self,
        name: str,
        fig: Any,
        *,
        format: str = "png",
        dpi: int = 150,
        bbox_inches: str = "tight",
        metadata: dict[str, Any] | None = None,
        close: bool = True,
    ) -> ArtifactDescriptor:
        """Save a matplotlib figure and store it as an "image" artifact.

        Args:
            format: Image format passed to ``savefig`` ("png", "pdf", "svg", "jpg", ...).
            dpi: Resolution.
            bbox_inches: Bounding box passed to ``savefig``.
            close: Close the figure afterwards (frees matplotlib's memory).
        """
        self._artifact_dir.mkdir(parents=True, exist_ok=True)
        path = self._artifact_dir / f"{name}.{format}"
        fig.savefig(path, dpi=dpi, bbox_inches=bbox_inches, format=format)
        if close:
            _close_figure(fig)
        return self.file(name, path, kind="image", metadata=metadata)

    def _descriptor(
        self,
        name: str,
        path: Path,
        *,
        kind: str,
        fmt: str,
        size_bytes: int | None,
        metadata: dict[str, Any] | None,
    ) -> ArtifactDescriptor:
        import uuid  # imports platform: kept off the import path of metalab

        return ArtifactDescriptor(
            artifact_id=str(uuid.uuid4()),
            name=name,
            kind=kind,
            format=fmt,
            uri=str(path),
            content_hash=content_hash(path),
            size_bytes=size_bytes,
            metadata={"_run_id": self._run_id, **(metadata or {})},
        )

    def _put(self, path: Path, descriptor: ArtifactDescriptor) -> ArtifactDescriptor:
        stored = self._store.put_artifact(path, descriptor)
        self._artifacts.append(stored)
        return stored

    # -------------------------------------------------------------- lifecycle

    def finalize(self) -> dict[str, Any]:
        """End the capture (idempotent; the executor calls it even when the run fails).

        Turns stepped metrics into data entries, closes the log (uploading it to stores
        without a log path), sends data entries to stores with structured results.

        Returns:
            ``{"metrics", "stepped_metrics", "results", "artifacts"}``.
        """
        if not self._finalized:
            self._finalized = True
            self._results.extend(_series_entries(self._stepped_metrics))
            self._log.close()
            self._upload_log()
            self._store_results()
        return self._summary()

    def _upload_log(self) -> None:
        if isinstance(self._store, SupportsLogPath) or not hasattr(self._store, "put_log"):
            return
        content = self._log.read()
        if content is None:
            return
        try:
            self._store.put_log(self._run_id, _RUN_LOG, content)
        except Exception:  # best effort: the run's outcome must not depend on its log
            logger.warning("Could not upload the log of run %s", self._run_id, exc_info=True)

    def _store_results(self) -> None:
        if not isinstance(self._store, SupportsStructuredResults):
            return
        for entry in self._results:
            try:
                self._store.put_result(
                    self._run_id,
                    entry["name"],
                    entry["data"],
                    dtype=entry.get("dtype"),
                    shape=entry.get("shape"),
                    metadata=entry.get("metadata"),
                )
            except Exception:  # best effort: entries stay in the summary
                logger.warning(
                    "Could not store data %r of run %s", entry["name"], self._run_id, exc_info=True
                )

    def _summary(self) -> dict[str, Any]:
        return {
            "metrics": dict(self._metrics),
            "stepped_metrics": list(self._stepped_metrics),
            "results": list(self._results),
            "artifacts": list(self._artifacts),
        }

    def __enter__(self) -> Capture:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.finalize()


def _series_entries(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One data entry per stepped metric: ``(step, value)`` pairs sorted by step."""
    series: dict[str, list[tuple[int, Any]]] = {}
    for point in points:
        series.setdefault(point["name"], []).append((point["step"], point["value"]))
    entries = []
    for name, pairs in series.items():
        pairs.sort(key=lambda pair: pair[0])
        entries.append(
            {
                "name": name,
                "data": pairs,
                "dtype": None,
                "shape": [len(pairs), 2],
                "metadata": {"type": "stepped_metric"},
            }
        )
    return entries


def _close_figure(fig: Any) -> None:
    try:
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return
    plt.close(fig)
