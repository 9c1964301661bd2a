"""FileStore: runs, artifacts, logs and results as plain files (see `FileStoreLayout`).

A scoped store (``experiment_id`` set) lives in ``{root}/{safe_experiment_id}``; its
``_meta.json`` names the experiment so an unscoped config can list its experiments.
Every file is written whole to a temporary name and renamed into place; writes to one
run hold an ``flock`` on ``.locks/{run_id}.lock``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

from metalab.schema import (
    SCHEMA_VERSION,
    dump_artifact_descriptor,
    dump_run_record,
    load_artifact_descriptor,
    load_run_record,
)
from metalab.store.config import StoreConfig
from metalab.store.layout import FileStoreLayout, safe_experiment_id
from metalab.types import ArtifactDescriptor, Metric, RunRecord

if TYPE_CHECKING:
    from metalab.store.locator import LocatorInfo

logger = logging.getLogger(__name__)


def experiments_under(root: Path) -> list[str]:
    """The experiment ids named by the ``_meta.json`` of ``root``'s subdirectories, sorted."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        meta = child / "_meta.json"
        if not meta.is_file():
            continue
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "experiment_id" in data:
            found.append(str(data["experiment_id"]))
    return sorted(found)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` at once: readers see the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_copy(source: Path, path: Path) -> None:
    """`atomic_write` of a copy of ``source`` (its metadata kept)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        shutil.copy2(source, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    """`atomic_write` of ``data`` as indented JSON with sorted keys."""
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True, kw_only=True)
class FileStoreConfig(StoreConfig):
    """A FileStore under ``root`` (made absolute), or under ``root/{experiment}`` when scoped."""

    scheme: ClassVar[str] = "file"
    root: str
    experiment_id: str | None = None

    def __post_init__(self) -> None:
        resolved = str(Path(self.root).resolve())
        if resolved != self.root:
            object.__setattr__(self, "root", resolved)

    def connect(self) -> FileStore:
        return FileStore(self)

    @classmethod
    def from_locator(cls, info: LocatorInfo, **kwargs: Any) -> FileStoreConfig:
        experiment_id = kwargs.pop("experiment_id", None) or info.params.get("experiment_id")
        return cls(root=info.path, experiment_id=experiment_id)

    def list_experiments(self) -> list[str]:
        """The experiments stored under this (unscoped) root; ValueError when scoped."""
        if self.experiment_id is not None:
            raise ValueError("Cannot list experiments on a scoped config")
        return experiments_under(Path(self.root))

    def for_experiment(self, experiment_id: str) -> FileStoreConfig:
        """Same as ``scoped(experiment_id)``."""
        return self.scoped(experiment_id)


class FileStore:
    """Filesystem store; open it with ``FileStoreConfig(root=...).connect()``."""

    def __init__(self, config: FileStoreConfig) -> None:
        self._config = config
        root = Path(config.root)
        if config.experiment_id:
            root = root / safe_experiment_id(config.experiment_id)
        self._layout = FileStoreLayout(root)
        self._ensure_layout()

    def _ensure_layout(self) -> None:
        self._layout.ensure_directories()
        meta_path = self._layout.meta_path()
        if not meta_path.exists():
            meta: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "created_by": "metalab"}
            if self._config.experiment_id:
                meta["experiment_id"] = self._config.experiment_id
            atomic_write_json(meta_path, meta)

    @property
    def config(self) -> FileStoreConfig:
        return self._config

    @property
    def is_scoped(self) -> bool:
        return self._config.is_scoped

    @property
    def root(self) -> Path:
        """The directory this store writes to (the experiment's when scoped)."""
        return self._layout.root

    @property
    def layout(self) -> FileStoreLayout:
        return self._layout

    def scoped(self, experiment_id: str) -> FileStore:
        """The store of ``experiment_id`` under the same root."""
        return self._config.scoped(experiment_id).connect()

    def __repr__(self) -> str:
        return f"FileStore(root={self._layout.root!r})"

    def get_working_directory(self) -> Path:
        return self._layout.root

    @contextmanager
    def _run_lock(self, run_id: str) -> Iterator[None]:
        lock_path = self._layout.lock_path(run_id)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # Run records

    def put_run_record(self, record: RunRecord) -> None:
        with self._run_lock(record.run_id):
            atomic_write_json(self._layout.run_path(record.run_id), dump_run_record(record))

    def get_run_record(self, run_id: str) -> RunRecord | None:
        path = self._layout.run_path(run_id)
        if not path.exists():
            return None
        return load_run_record(_read_json(path))

    def list_run_records(self, experiment_id: str | None = None) -> list[RunRecord]:
        records = []
        for path in sorted(self._layout.runs_dir_path().glob("*.json")):
            try:
                record = load_run_record(_read_json(path))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                logger.warning("Failed to load run record %s: %s", path, exc)
                continue
            if experiment_id is None or record.experiment_id == experiment_id:
                records.append(record)
        return records

    def run_exists(self, run_id: str) -> bool:
        return self._layout.run_path(run_id).exists()

    # Artifacts

    @staticmethod
    def _artifact_run_id(data: bytes | Path, descriptor: ArtifactDescriptor) -> str:
        """The run an artifact belongs to: ``metadata["_run_id"]``, else a ``metalab_{run_id}_*``
        directory the file sits in, else the first 16 characters of its artifact id."""
        run_id = descriptor.metadata.get("_run_id")
        if run_id:
            return str(run_id)
        if isinstance(data, Path):
            for parent in data.parents:
                parts = parent.name.split("_")
                if parent.name.startswith("metalab_") and len(parts) >= 2:
                    return parts[1]
        return descriptor.artifact_id[:16]

    def put_artifact(
        self, data: bytes | Path, descriptor: ArtifactDescriptor
    ) -> ArtifactDescriptor:
        """Copy the artifact to ``artifacts/{run_id}/{name}{ext}`` (ext: the source file's
        suffix, else ``.{format}``) and list it in the run's ``_manifest.json``."""
        run_id = self._artifact_run_id(data, descriptor)
        if isinstance(data, Path):
            filename = f"{descriptor.name}{data.suffix}"
        else:
            filename = (
                f"{descriptor.name}.{descriptor.format}" if descriptor.format else descriptor.name
            )
        dest = self._layout.artifact_dir(run_id) / filename
        if dest.exists():
            logger.warning("Artifact %s already exists, overwriting", filename)
        with self._run_lock(run_id):
            if isinstance(data, Path):
                atomic_copy(data, dest)
            else:
                atomic_write(dest, data)
            self._add_to_manifest(run_id, replace(descriptor, uri=str(dest)))
        return replace(descriptor, uri=str(dest))

    def _add_to_manifest(self, run_id: str, descriptor: ArtifactDescriptor) -> None:
        """Record ``descriptor`` (internal ``_``-keys of its metadata dropped), replacing an
        entry of the same name."""
        path = self._layout.artifact_manifest_path(run_id)
        manifest = _read_json(path) if path.exists() else {"artifacts": []}
        public = {k: v for k, v in descriptor.metadata.items() if not k.startswith("_")}
        entry = dump_artifact_descriptor(replace(descriptor, metadata=public))
        kept = [a for a in manifest["artifacts"] if a.get("name") != descriptor.name]
        manifest["artifacts"] = [*kept, entry]
        atomic_write_json(path, manifest)

    def get_artifact(self, uri: str) -> bytes:
        path = Path(uri)
        if not path.exists():
            raise FileNotFoundError(f"Artifact not found: {uri}")
        return path.read_bytes()

    def open_artifact(self, uri: str) -> BinaryIO:
        path = Path(uri)
        if not path.exists():
            raise FileNotFoundError(f"Artifact not found: {uri}")
        return path.open("rb")

    def list_artifacts(self, run_id: str) -> list[ArtifactDescriptor]:
        path = self._layout.artifact_manifest_path(run_id)
        if not path.exists():
            return []
        return [load_artifact_descriptor(a) for a in _read_json(path).get("artifacts", [])]

    # Derived metrics

    def put_derived(self, run_id: str, derived: dict[str, Metric]) -> None:
        with self._run_lock(run_id):
            atomic_write_json(self._layout.derived_path(run_id), derived)

    def get_derived(self, run_id: str) -> dict[str, Metric] | None:
        path = self._layout.derived_path(run_id)
        if not path.exists():
            return None
        derived: dict[str, Metric] = _read_json(path)
        return derived

    def derived_exists(self, run_id: str) -> bool:
        return self._layout.derived_path(run_id).exists()

    # Structured results

    def put_result(
        self,
        run_id: str,
        name: str,
        data: Any,
        dtype: str | None = None,
        shape: list[int] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Store ``results/{run_id}/{name}.json``: ``{"data", "dtype", "shape", "metadata"}``."""
        result = {"data": data, "dtype": dtype, "shape": shape, "metadata": metadata or {}}
        with self._run_lock(run_id):
            atomic_write_json(self._layout.result_path(run_id, name), result)

    def get_result(self, run_id: str, name: str) -> dict[str, Any] | None:
        path = self._layout.result_path(run_id, name)
        if not path.exists():
            return None
        result: dict[str, Any] = _read_json(path)
        return result

    def list_results(self, run_id: str) -> list[str]:
        directory = self._layout.result_dir(run_id)
        return [p.stem for p in directory.glob("*.json")] if directory.exists() else []

    # Logs

    def put_log(self, run_id: str, name: str, content: str, label: str | None = None) -> None:
        """Store ``logs/{run_id}_{name}.log`` (``{label}_{run_id[:8]}_{name}.log`` with a label)."""
        path = self._layout.log_path(run_id, name)
        if label:
            path = path.with_name(f"{label}_{run_id[:8]}_{name}.log")
        atomic_write(path, content.encode("utf-8"))

    def get_log_path(self, run_id: str, name: str) -> Path:
        path = self._layout.log_path(run_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def get_log(self, run_id: str, name: str) -> str | None:
        """The log, also found in the older ``*_{run_id[:8]}_{name}.log`` and
        ``{run_id}/{name}.txt`` forms."""
        logs = self._layout.logs_dir_path()
        candidates = [self._layout.log_path(run_id, name)]
        candidates += sorted(logs.glob(f"*_{run_id[:8]}_{name}.log"))[:1]
        candidates.append(logs / run_id / f"{name}.txt")
        for path in candidates:
            if path.exists():
                return path.read_text(encoding="utf-8")
        return None

    def list_logs(self, run_id: str) -> list[str]:
        logs = self._layout.logs_dir_path()
        short = f"_{run_id[:8]}_"
        names: set[str] = set()
        for pattern in (f"*{short}*.log", f"{run_id}_*.log"):
            for path in logs.glob(pattern):
                stem = path.stem
                if short in stem:
                    names.add(stem.split(short, 1)[-1])
                elif stem.startswith(f"{run_id}_"):
                    names.add(stem[len(run_id) + 1 :])
        nested = logs / run_id
        if nested.is_dir():
            names.update(p.stem for p in nested.glob("*.txt"))
        return sorted(names)

    # Experiment manifests

    def put_experiment_manifest(
        self,
        experiment_id: str,
        manifest: dict[str, Any],
        timestamp: str | None = None,
    ) -> None:
        """Store ``experiments/{safe_id}_{timestamp}.json`` (timestamp: now, ``%Y%m%d_%H%M%S``)."""
        stamp = timestamp or datetime.now().strftime("%Y%m%d_%H%M%S")
        atomic_write_json(self._layout.experiment_manifest_path(experiment_id, stamp), manifest)

    def get_experiment_manifest(self, experiment_id: str) -> dict[str, Any] | None:
        """The most recently written manifest of ``experiment_id``."""
        directory = self._layout.experiments_dir_path()
        if not directory.exists():
            return None
        matching = directory.glob(f"{safe_experiment_id(experiment_id)}_*.json")
        newest = max(matching, key=lambda p: p.stat().st_mtime, default=None)
        if newest is None:
            return None
        try:
            manifest: dict[str, Any] = _read_json(newest)
        except (OSError, ValueError) as exc:
            logger.warning("Failed to load experiment manifest %s: %s", newest, exc)
            return None
        return manifest

    # Maintenance

    def delete_run(self, run_id: str) -> None:
        """Remove the run's record, derived metrics, results, artifacts, logs and lock."""
        logs = self._layout.logs_dir_path()
        with self._run_lock(run_id):
            self._layout.run_path(run_id).unlink(missing_ok=True)
            self._layout.derived_path(run_id).unlink(missing_ok=True)
            for directory in (
                self._layout.result_dir(run_id),
                self._layout.artifact_dir(run_id),
                logs / run_id,
            ):
                shutil.rmtree(directory, ignore_errors=True)
            for pattern in (f"{run_id}_*.log", f"*_{run_id[:8]}_*.log"):
                for path in logs.glob(pattern):
                    path.unlink(missing_ok=True)
        self._layout.lock_path(run_id).unlink(missing_ok=True)
