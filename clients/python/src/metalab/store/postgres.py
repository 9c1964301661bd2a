"""PostgresStore: a FileStore (the truth) plus a PostgreSQL index (fast queries, Atlas).

Records, derived metrics and manifests go to files first, then to the index. A failed index
write is logged and left in the store's `IndexBacklog`: the index catches up from the files
(``catch_up()``) on the next index write that succeeds in this process, on a read, or when the
services start again; ``rebuild_index()`` restores the whole index. Reads try the index first,
unless it is behind, and fall back to the files. Logs, artifacts and results are files only.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, TypeVar

from metalab.store.config import StoreConfig
from metalab.store.file import FileStore, FileStoreConfig, experiments_under
from metalab.store.index_backlog import IndexBacklog, Pending
from metalab.store.postgres_index import (
    METALAB_PARAMS,
    PostgresIndex,
    _sanitize_connection_string,
    _strip_metalab_params,
)
from metalab.types import ArtifactDescriptor, Metric, RunRecord

if TYPE_CHECKING:
    from metalab.store.locator import LocatorInfo

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
PROBE_TIMEOUT = 1.0  # how long a catch-up nobody asked for waits for the server
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class PostgresStoreConfig(StoreConfig):
    """A PostgresStore: the index at ``connection_string``, the files under ``file_root``.

    The connection string may carry libpq parameters such as ``passfile=`` (how
    ``store="discover"`` keeps the password out of it); passwords are never logged.
    """

    scheme: ClassVar[str] = "postgresql"
    connection_string: str
    file_root: str
    experiment_id: str | None = None
    schema: str = "public"
    auto_migrate: bool = True
    connect_timeout: float = 10.0
    pool_min_size: int = 1
    pool_max_size: int = 2

    def __post_init__(self) -> None:
        resolved = str(Path(self.file_root).resolve())
        if resolved != self.file_root:
            object.__setattr__(self, "file_root", resolved)

    def __repr__(self) -> str:
        return (
            f"PostgresStoreConfig(connection_string="
            f"{_sanitize_connection_string(self.connection_string)!r}, "
            f"file_root={self.file_root!r}, experiment_id={self.experiment_id!r}, "
            f"schema={self.schema!r})"
        )

    def connect(self) -> PostgresStore:
        return PostgresStore(self)

    @classmethod
    def from_locator(cls, info: LocatorInfo, **kwargs: Any) -> PostgresStoreConfig:
        """``file_root`` (keyword or query parameter) is required; ``experiment_id`` and
        ``schema`` are optional. Other query parameters stay in the connection string."""
        file_root = kwargs.pop("file_root", None) or info.params.get("file_root")
        if not file_root:
            raise ValueError("PostgresStoreConfig requires file_root")
        experiment_id = kwargs.pop("experiment_id", None) or info.params.get("experiment_id")
        return cls(
            connection_string=_strip_metalab_params(info.raw),
            file_root=str(file_root),
            experiment_id=experiment_id,
            schema=info.params.get("schema", "public"),
        )

    def list_experiments(self) -> list[str]:
        """The experiments stored under ``file_root``; ValueError when scoped."""
        if self.experiment_id is not None:
            raise ValueError("Cannot list experiments on a scoped config")
        return experiments_under(Path(self.file_root))

    def for_experiment(self, experiment_id: str) -> PostgresStoreConfig:
        """Same as ``scoped(experiment_id)``."""
        return self.scoped(experiment_id)


class PostgresStore:
    """FileStore + PostgresIndex; open it with ``PostgresStoreConfig(...).connect()``."""

    def __init__(self, config: PostgresStoreConfig) -> None:
        self._config = config
        files = FileStoreConfig(root=config.file_root, experiment_id=config.experiment_id)
        self._files = files.connect()
        self._backlog = IndexBacklog(
            self._files.root, config.experiment_id, nested=not config.experiment_id
        )
        self._behind = False  # this process left something in the backlog
        self._index = PostgresIndex(
            config.connection_string,
            schema=config.schema,
            auto_migrate=config.auto_migrate,
            pool_min_size=config.pool_min_size,
            pool_max_size=config.pool_max_size,
            connect_timeout=config.connect_timeout,
            file_root=config.file_root,
            eager_schema=not self._backlog.recently_down(),
        )
        logger.info(
            "PostgresStore: index at %s, files at %s",
            _sanitize_connection_string(config.connection_string),
            self._files.root,
        )

    _sanitize_connection_string = staticmethod(_sanitize_connection_string)

    @property
    def config(self) -> PostgresStoreConfig:
        return self._config

    @property
    def is_scoped(self) -> bool:
        return self._config.is_scoped

    def scoped(self, experiment_id: str) -> PostgresStore:
        return self._config.scoped(experiment_id).connect()

    def __repr__(self) -> str:
        safe = _sanitize_connection_string(self._config.connection_string)
        return f"PostgresStore(index={safe!r}, files={self._config.file_root!r})"

    @property
    def file_store(self) -> FileStore:
        return self._files

    @property
    def index(self) -> PostgresIndex:
        return self._index

    def get_working_directory(self) -> Path:
        return self._files.get_working_directory()

    def _indexed(
        self,
        kind: str,
        key: str,
        write_files: Callable[[], None],
        write_index: Callable[[], None],
        *,
        experiment_id: str = "",
    ) -> None:
        """``write_files``, then ``write_index``, or leave ``kind`` ``key`` in the backlog
        (the files hold it). Announced first: what a writer killed in between had under way
        is redone by the next catch-up (`metalab.core.intent_journal`)."""
        ident = self._backlog.intend(kind, key, experiment_id)
        try:
            write_files()
        except Exception:  # nothing written; interrupted, it stays announced (a redo is harmless)
            self._backlog.settle(ident)
            raise
        deferred = self._backlog.recently_down()
        if not deferred:
            try:
                write_index()
            except Exception as exc:  # noqa: BLE001 - the files hold it; the backlog redoes it
                logger.warning(
                    "Failed to index %s %s in Postgres (kept for catch-up): %s", kind, key, exc
                )
                self._backlog.mark_down()
                deferred = True
        if deferred:
            self._backlog.add(kind, key, experiment_id)
            self._behind = True
        self._backlog.settle(ident)
        if not deferred and self._behind:
            self.catch_up()

    def _from_index(self, read: Callable[[], T]) -> T | None:
        """What ``read`` finds in the index; None when the index fails or is behind (the
        backlog cannot be caught up now): read the files."""
        if self._backlog.pending() and not self.catch_up():
            return None
        try:
            return read()
        except Exception as exc:  # noqa: BLE001 - the files answer instead
            logger.debug("Postgres index unavailable, reading files: %s", exc)
            return None

    def backlog_size(self) -> int:
        """Index writes waiting to be redone from the files."""
        return self._backlog.count()

    def catch_up(self, *, now: bool = False) -> bool:
        """Redo every write the backlog holds from the files; True once it is empty.

        Within ``QUIET`` seconds of a failed write it does not try (False), and after them it
        first waits at most ``PROBE_TIMEOUT`` for the server, unless ``now`` (the caller knows
        the server is back). Stops at the first failure, giving that claim back.
        """
        if not now:
            if self._backlog.recently_down():
                return False
            try:
                self._index.ping(PROBE_TIMEOUT)
            except Exception:  # noqa: BLE001 - still away: the files answer
                self._backlog.mark_down()
                return False
        done = 0
        scoped: dict[str | None, FileStore] = {self._config.experiment_id: self._files}
        for item in self._backlog.take():
            try:
                if item.scope not in scoped:
                    config = FileStoreConfig(root=self._config.file_root, experiment_id=item.scope)
                    scoped[item.scope] = config.connect()
                self._replay(item, scoped[item.scope])
            except Exception as exc:  # noqa: BLE001 - the index is away again: later
                IndexBacklog.release(item)
                self._backlog.mark_down()
                logger.info("Postgres index catch-up stopped after %d write(s): %s", done, exc)
                return False
            IndexBacklog.done(item)
            done += 1
        self._backlog.clear_down()
        self._behind = False
        if done:
            logger.info("Postgres index caught up: %d write(s) redone from the files", done)
        return True

    def _replay(self, item: Pending, files: FileStore) -> None:
        """Write ``item`` to the index from ``files``, until the file stays the same across
        the write (a writer that indexed a newer version meanwhile is not overwritten)."""
        if item.kind == "manifest":
            manifest = files.layout.experiment_manifest_path(item.experiment_id, item.key)
            if manifest.exists():
                data = json.loads(manifest.read_text(encoding="utf-8"))
                self._index.index_manifest(item.experiment_id, data, item.key)
            return
        path = (
            files.layout.run_path(item.key)
            if item.kind == "record"
            else files.layout.derived_path(item.key)
        )
        for _ in range(3):
            before = _read_bytes(path)
            if item.kind == "record":
                record = files.get_run_record(item.key)
                if record is None:
                    self._index.delete_record(item.key)
                else:
                    self._index.index_record(record)
            else:
                derived = files.get_derived(item.key)
                if derived is None:
                    self._index.delete_derived(item.key)
                else:
                    self._index.index_derived(item.key, dict(derived))
            if _read_bytes(path) == before:
                return

    # Run records

    def put_run_record(self, record: RunRecord) -> None:
        self._indexed(
            "record",
            record.run_id,
            lambda: self._files.put_run_record(record),
            lambda: self._index.index_record(record),
        )

    def get_run_record(self, run_id: str) -> RunRecord | None:
        found = self._from_index(lambda: self._index.get_record(run_id))
        return found if found is not None else self._files.get_run_record(run_id)

    def list_run_records(self, experiment_id: str | None = None) -> list[RunRecord]:
        found = self._from_index(lambda: self._index.list_records(experiment_id))
        return found if found is not None else self._files.list_run_records(experiment_id)

    def run_exists(self, run_id: str) -> bool:
        indexed = self._from_index(lambda: self._index.record_exists(run_id))
        return bool(indexed) or self._files.run_exists(run_id)

    # Artifacts, results and logs: files only

    def put_artifact(
        self, data: bytes | Path, descriptor: ArtifactDescriptor
    ) -> ArtifactDescriptor:
        return self._files.put_artifact(data, descriptor)

    def get_artifact(self, uri: str) -> bytes:
        return self._files.get_artifact(uri)

    def open_artifact(self, uri: str) -> BinaryIO:
        return self._files.open_artifact(uri)

    def list_artifacts(self, run_id: str) -> list[ArtifactDescriptor]:
        return self._files.list_artifacts(run_id)

    def put_result(
        self,
        run_id: str,
        name: str,
        data: Any,
        dtype: str | None = None,
        shape: list[int] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._files.put_result(run_id, name, data, dtype, shape, metadata)

    def get_result(self, run_id: str, name: str) -> dict[str, Any] | None:
        return self._files.get_result(run_id, name)

    def list_results(self, run_id: str) -> list[str]:
        return self._files.list_results(run_id)

    def put_log(self, run_id: str, name: str, content: str, label: str | None = None) -> None:
        self._files.put_log(run_id, name, content, label)

    def get_log_path(self, run_id: str, name: str) -> Path:
        return self._files.get_log_path(run_id, name)

    def get_log(self, run_id: str, name: str) -> str | None:
        return self._files.get_log(run_id, name)

    def list_logs(self, run_id: str) -> list[str]:
        return self._files.list_logs(run_id)

    # Derived metrics

    def put_derived(self, run_id: str, derived: dict[str, Metric]) -> None:
        self._indexed(
            "derived",
            run_id,
            lambda: self._files.put_derived(run_id, derived),
            lambda: self._index.index_derived(run_id, dict(derived)),
        )

    def get_derived(self, run_id: str) -> dict[str, Metric] | None:
        found = self._from_index(lambda: self._index.get_derived(run_id))
        return found if found is not None else self._files.get_derived(run_id)

    def derived_exists(self, run_id: str) -> bool:
        indexed = self._from_index(lambda: self._index.derived_exists(run_id))
        return bool(indexed) or self._files.derived_exists(run_id)

    # Experiment manifests

    def put_experiment_manifest(
        self,
        experiment_id: str,
        manifest: dict[str, Any],
        timestamp: str | None = None,
    ) -> None:
        stamp = timestamp or datetime.now().strftime("%Y%m%d_%H%M%S")
        self._indexed(
            "manifest",
            stamp,
            lambda: self._files.put_experiment_manifest(experiment_id, manifest, stamp),
            lambda: self._index.index_manifest(experiment_id, manifest, stamp),
            experiment_id=experiment_id,
        )

    def get_experiment_manifest(self, experiment_id: str) -> dict[str, Any] | None:
        found = self._from_index(lambda: self._index.get_manifest(experiment_id))
        return found if found is not None else self._files.get_experiment_manifest(experiment_id)

    # Index management

    def _file_stores(self, tick: Progress) -> list[FileStore]:
        """The file stores to index: this one when scoped, else every experiment's."""
        if self._config.experiment_id:
            return [self._files]
        base = FileStoreConfig(root=self._config.file_root)
        ids = base.list_experiments()
        logger.info("Discovered %d experiments in %s", len(ids), self._config.file_root)
        stores = []
        for i, experiment_id in enumerate(ids):
            tick("Scanning experiments", i, len(ids))
            stores.append(base.for_experiment(experiment_id).connect())
        return stores

    def rebuild_index(self, progress: Progress | None = None) -> int:
        """Rebuild the index from the files; returns the number of records indexed.

        Scoped, only this experiment's rows are replaced; unscoped, every experiment under
        ``file_root`` (found by its ``_meta.json``). ``progress(phase, done, total)``
        reports each phase.
        """

        def tick(phase: str, done: int, total: int) -> None:
            if progress is not None:
                progress(phase, done, total)

        tick("Scanning experiments", 0, 1)
        stores = self._file_stores(tick)
        pairs = [(record, store) for store in stores for record in store.list_run_records()]
        records = [record for record, _ in pairs]
        tick("Scanning experiments", 1, 1)

        tick("Clearing index", 0, 1)
        scope = [self._config.experiment_id] if self._config.experiment_id else None
        self._index.clear(scope)
        tick("Clearing index", 1, 1)

        phase = f"Indexing {len(records):,} records"
        tick(phase, 0, 1)
        self._index.batch_index_records(records)
        tick(phase, 1, 1)

        derived = []
        for i, (record, store) in enumerate(pairs):
            if i % 200 == 0:
                tick("Collecting derived metrics", i, len(pairs))
            found = store.get_derived(record.run_id)
            if found:
                derived.append((record.run_id, dict(found)))
        tick("Collecting derived metrics", len(pairs), len(pairs))
        phase = f"Indexing {len(derived):,} derived"
        tick(phase, 0, 1)
        self._index.batch_index_derived(derived)
        tick(phase, 1, 1)

        tick("Indexing manifests", 0, 1)
        for store in stores:
            if store.config.experiment_id:
                manifest = store.get_experiment_manifest(store.config.experiment_id)
                if manifest is not None:
                    self._index.index_manifest(store.config.experiment_id, manifest)
        tick("Indexing manifests", 1, 1)

        tick("Rebuilding field catalog", 0, 1)
        self._index.update_field_catalog(records)
        tick("Rebuilding field catalog", 1, 1)
        logger.info("Indexed %d records from files", len(records))
        return len(records)

    @classmethod
    def from_filestore(
        cls,
        connection_string: str,
        filestore: FileStore,
        *,
        schema: str = "public",
        rebuild: bool = True,
    ) -> PostgresStore:
        """A PostgresStore over ``filestore``'s directory (its index rebuilt unless told not)."""
        config = PostgresStoreConfig(
            connection_string=connection_string, file_root=str(filestore.root), schema=schema
        )
        store = config.connect()
        if rebuild:
            store.rebuild_index()
        return store

    def to_filestore(self, destination: Path | None = None) -> FileStore:
        """The underlying FileStore, or a copy of its directory at ``destination``."""
        if destination is None:
            return self._files
        shutil.copytree(self._files.root, destination)
        return FileStoreConfig(root=str(destination)).connect()

    def delete_run(self, run_id: str) -> None:
        def forget() -> None:
            self._index.delete_record(run_id)
            self._index.delete_derived(run_id)

        self._indexed("record", run_id, lambda: self._files.delete_run(run_id), forget)

    def close(self) -> None:
        self._index.close()
        self._backlog.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


__all__ = ["METALAB_PARAMS", "PostgresStore", "PostgresStoreConfig"]
