"""A store locator as a collection of experiments: listing them, copying them experiment by
experiment (what ``metalab store export|import|list`` do).

A file-backed locator (a FileStore root, a PostgresStore's ``file_root``) names one of:

- an experiment's directory (its ``_meta.json`` names the experiment): that experiment;
- a collection root (``metalab.run(exp, store=root)`` writes ``root/{safe_experiment_id}/``):
  every experiment below it, plus any runs kept flat in ``root/runs/`` (an unscoped store).

Runs copied into a collection root land in their experiment's directory, where
``metalab.run(exp, store=destination)`` finds them (resume), ``load_results`` reads them (from
``FileStoreConfig(root=destination).for_experiment(id)``) and Atlas indexes them.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metalab.store.capabilities import (
    SupportsExperimentManifests,
    SupportsStructuredResults,
    SupportsWorkingDirectory,
)
from metalab.store.file import FileStoreConfig, experiments_under
from metalab.store.layout import FileStoreLayout, safe_experiment_id
from metalab.store.transfer import _copy_logs

if TYPE_CHECKING:
    from metalab.store.base import Store
    from metalab.store.config import StoreConfig
    from metalab.types import ArtifactDescriptor, Metric, RunRecord

logger = logging.getLogger(__name__)

COUNT_KEYS = ("runs", "skipped", "derived", "logs", "artifacts", "results", "manifests")
"""The keys of `copy_collection`'s counts: upstream's four plus skipped, results, manifests."""

_TIMESTAMP = re.compile(r"\d{8}_\d{6}")

INDEX_BATCH = 500
"""Runs indexed per transaction when copying into PostgreSQL."""


def files_root(config: StoreConfig) -> Path | None:
    """The directory of a file-backed config (``root`` or ``file_root``), else None."""
    root = getattr(config, "root", None) or getattr(config, "file_root", None)
    return Path(root) if isinstance(root, str) else None


def directory_experiment(directory: Path) -> str | None:
    """The experiment whose directory ``directory`` is (named by its ``_meta.json``), or None."""
    try:
        meta = json.loads((directory / "_meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = meta.get("experiment_id") if isinstance(meta, dict) else None
    return str(found) if found else None


def _has_flat_runs(root: Path) -> bool:
    runs = root / "runs"
    return runs.is_dir() and any(runs.glob("*.json"))


def _existing_root(config: StoreConfig) -> Path | None:
    """``config``'s directory (None for a non-file store); ValueError when its store's
    directory (an experiment's, when scoped) does not exist: reading never creates one."""
    root = files_root(config)
    if root is None:
        return None
    directory = root / safe_experiment_id(config.experiment_id) if config.experiment_id else root
    if not directory.is_dir():
        raise ValueError(f"no store at {directory}")
    return root


def _flat_experiments(root: Path) -> set[str]:
    return {r.experiment_id for r in FileStoreConfig(root=str(root)).connect().list_run_records()}


def list_experiments_in(config: StoreConfig) -> list[str]:
    """The experiments ``config`` holds, sorted, read from files where it has them (a
    PostgresStore's index is not consulted). ValueError when its directory does not exist."""
    root = _existing_root(config)
    if config.experiment_id is not None:
        return [config.experiment_id]
    if root is None:
        lister: Callable[[], list[str]] | None = getattr(config, "list_experiments", None)
        if lister is not None:
            return sorted(lister())
        store = config.connect()
        try:
            return sorted({r.experiment_id for r in store.list_run_records()})
        finally:
            _close(store)
    own = directory_experiment(root)
    if own is not None:
        return [own]
    found = set(experiments_under(root))
    if _has_flat_runs(root):
        found |= _flat_experiments(root)
    return sorted(found)


def resolve_experiment(config: StoreConfig, experiment_id: str) -> str:
    """``experiment_id`` as ``config`` holds it (also accepted: its directory name, e.g.
    ``exp_1.0`` for ``exp:1.0``); ValueError with the closest names when it holds no such one."""
    held = list_experiments_in(config)
    for candidate in held:
        if experiment_id in (candidate, safe_experiment_id(candidate)):
            return candidate
    close = get_close_matches(experiment_id, held, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    listed = f" (it holds {len(held)} experiment(s){hint})" if held else " (it holds none)"
    raise ValueError(f"no experiment {experiment_id!r} in the source store{listed}")


def source_configs(config: StoreConfig, experiment_id: str | None = None) -> list[StoreConfig]:
    """The stores to read runs from: ``config`` itself (scoped, an experiment's directory, a
    non-file store), else a collection root's: a FileStore of the runs kept flat in its
    ``runs/`` and one scoped config per experiment below it (only ``experiment_id``'s when
    given; resolve it with `resolve_experiment` first)."""
    root = _existing_root(config)
    if config.experiment_id is not None or root is None or directory_experiment(root):
        return [config]
    # runs kept flat in root/runs/ are read from those files (an index would list every
    # experiment's runs, those below root too)
    flat = _has_flat_runs(root)
    configs: list[StoreConfig] = [FileStoreConfig(root=str(root))] if flat else []
    for found in experiments_under(root):
        if experiment_id is None or found == experiment_id:
            configs.append(config.scoped(found))
    return configs


def destination_config(config: StoreConfig, experiment_id: str) -> StoreConfig:
    """Where the runs of ``experiment_id`` go: a collection root's experiment directory; the
    store itself when it is that experiment's (or a flat or non-file store). ValueError when
    it belongs to another experiment."""
    if config.experiment_id is not None:
        if config.experiment_id != experiment_id:
            raise ValueError(
                f"the destination is scoped to {config.experiment_id!r}; "
                f"it cannot take runs of {experiment_id!r}"
            )
        return config
    root = files_root(config)
    if root is None:
        return config
    if root.exists() and not root.is_dir():
        raise ValueError(f"the destination {root} is not a directory")
    own = directory_experiment(root)
    if own is not None and own != experiment_id:
        raise ValueError(
            f"the destination {root} is the directory of experiment {own!r}; "
            f"it cannot take runs of {experiment_id!r} (name its parent directory instead)"
        )
    if own is not None or _has_flat_runs(root):
        return config
    return config.scoped(experiment_id)


@dataclass
class _Batch:
    """The runs of one source store, by experiment."""

    source: StoreConfig
    runs: dict[str, list[RunRecord]]


@dataclass(frozen=True)
class CopyOptions:
    """What to copy besides run records, and whether to replace runs already there."""

    include_derived: bool = True
    include_logs: bool = True
    include_artifacts: bool = False
    overwrite: bool = False


def copy_collection(
    source: StoreConfig,
    destination: StoreConfig,
    *,
    experiment_id: str | None = None,
    options: CopyOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Copy the runs of ``source`` (only ``experiment_id``'s when given) to ``destination``,
    experiment by experiment, with their derived metrics, logs, structured results, experiment
    manifests and (when asked) artifacts. Runs already in the destination are skipped unless
    ``options.overwrite``. ``progress(done, total)`` follows each run. Returns the counts
    (`COUNT_KEYS`). ValueError for a missing source, an unknown experiment or a destination
    that cannot take the runs, all raised before anything is written."""
    opts = options or CopyOptions()
    wanted = resolve_experiment(source, experiment_id) if experiment_id is not None else None
    batches = [_plan(config, wanted) for config in source_configs(source, wanted)]
    targets = {
        experiment: destination_config(destination, experiment)
        for batch in batches
        for experiment in batch.runs
    }
    counts = dict.fromkeys(COUNT_KEYS, 0)
    total = sum(len(runs) for batch in batches for runs in batch.runs.values())
    done = 0
    for batch in batches:
        connected = batch.source.connect()
        # a PostgresStore's runs come from its index; their files are read directly
        src: Store = getattr(connected, "file_store", None) or connected
        try:
            for experiment, records in batch.runs.items():
                opened = targets[experiment].connect()
                try:
                    dst = _Destination(opened, experiment)
                    logs = _Logs(src, [r.run_id for r in records])
                    for record in records:
                        _copy_run(src, dst, logs, record, opts, counts)
                        done += 1
                        if done % INDEX_BATCH == 0:
                            dst.flush()
                        if progress is not None:
                            progress(done, total)
                    dst.flush()
                    counts["manifests"] += _copy_manifests(
                        src, dst.store, experiment, opts.overwrite
                    )
                finally:
                    _close(opened)
        finally:
            _close(connected)
    logger.info("Copied %s", counts)
    return counts


def _plan(config: StoreConfig, experiment_id: str | None) -> _Batch:
    """The runs of one source store, grouped by experiment. An experiment's own store lists
    only that experiment's runs (a PostgreSQL index holds every experiment's) and counts
    even with no runs: its manifests are copied."""
    own = config.experiment_id or _directory_of(config)
    store = config.connect()
    try:
        records = store.list_run_records(experiment_id or own)
    finally:
        _close(store)
    runs: dict[str, list[RunRecord]] = {}
    if own is not None:
        runs[own] = []
    for record in records:
        runs.setdefault(record.experiment_id, []).append(record)
    return _Batch(config, runs)


def _directory_of(config: StoreConfig) -> str | None:
    root = files_root(config)
    return directory_experiment(root) if root is not None else None


class _Destination:
    """One experiment's destination store. Into a PostgresStore (its ``file_store`` and
    ``index``), files are written at once and the index in batches, one transaction each
    (`flush`); a run counts as there when it is indexed and on file both, so importing a
    store into PostgreSQL over its own files indexes it."""

    def __init__(self, store: Store, experiment_id: str) -> None:
        self.store = store
        files: Store | None = getattr(store, "file_store", None)
        self._index: Any = getattr(store, "index", None) if files is not None else None
        self.files: Store = files if files is not None and self._index is not None else store
        self._indexed: set[str] = set()
        if self._index is not None:
            self._indexed = {r.run_id for r in self._index.list_records(experiment_id)}
        self._records: list[RunRecord] = []
        self._derived: list[tuple[str, dict[str, Any]]] = []

    def has(self, run_id: str) -> bool:
        if self._index is None:
            return self.store.run_exists(run_id)
        return run_id in self._indexed and self.files.run_exists(run_id)

    def put_run_record(self, record: RunRecord) -> None:
        self.files.put_run_record(record)
        if self._index is not None:
            self._records.append(record)

    def put_derived(self, run_id: str, derived: dict[str, Metric]) -> None:
        self.files.put_derived(run_id, derived)
        if self._index is not None:
            self._derived.append((run_id, dict(derived)))

    def flush(self) -> None:
        """Index the records and derived metrics written since the last flush."""
        if self._index is None:
            return
        self._index.batch_index_records(self._records)
        self._index.batch_index_derived(self._derived)
        self._records, self._derived = [], []


def _copy_run(
    src: Store,
    dst: _Destination,
    logs: _Logs,
    record: RunRecord,
    opts: CopyOptions,
    counts: dict[str, int],
) -> None:
    run_id = record.run_id
    if not opts.overwrite and dst.has(run_id):
        logger.debug("Skipping existing run: %s", run_id)
        counts["skipped"] += 1
        return
    dst.put_run_record(record)
    counts["runs"] += 1
    if opts.include_derived:
        derived = src.get_derived(run_id)
        if derived:
            dst.put_derived(run_id, derived)
            counts["derived"] += 1
    if opts.include_logs:
        counts["logs"] += logs.copy(dst.files, run_id)
    counts["results"] += _copy_results(src, dst.files, run_id)
    if opts.include_artifacts:
        counts["artifacts"] += _copy_artifacts(src, dst.files, run_id)


class _Logs:
    """The logs of one source store's runs. A store directory is listed once: the store's
    own ``list_logs`` globs the whole directory per run (quadratic in the runs)."""

    def __init__(self, src: Store, run_ids: list[str]) -> None:
        self._src = src
        self._paths: dict[str, dict[str, Path]] | None = None
        if isinstance(src, SupportsWorkingDirectory):
            logs = FileStoreLayout(src.get_working_directory()).logs_dir_path()
            self._paths = _canonical_logs(logs, run_ids)

    def copy(self, dst: Store, run_id: str) -> int:
        if self._paths is None:
            return _copy_logs(self._src, dst, run_id)
        copied = 0
        for name, path in sorted(self._paths.get(run_id, {}).items()):
            content = path.read_text(encoding="utf-8")
            if content:
                dst.put_log(run_id, name, content)
                copied += 1
        return copied


def _canonical_logs(directory: Path, run_ids: list[str]) -> dict[str, dict[str, Path]] | None:
    """``run_id -> {name: path}`` of the ``{run_id}_{name}.log`` files of ``directory``; None
    when it holds the runs' logs in an older form too (``{label}_{run_id[:8]}_{name}.log``,
    ``{run_id}/{name}.txt``): the store reads those."""
    ids = set(run_ids)
    shorts = {run_id[:8] for run_id in ids}
    if any("_" in short for short in shorts):
        return None
    found: dict[str, dict[str, Path]] = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return found
    for entry in entries:
        if entry.is_dir():
            if entry.name in ids:
                return None
            continue
        if not entry.name.endswith(".log"):
            continue
        parts = entry.name[: -len(".log")].split("_")
        owner = next(
            ("_".join(parts[:k]) for k in range(1, len(parts)) if "_".join(parts[:k]) in ids),
            None,
        )
        if owner is not None:
            name = "_".join(parts[len(owner.split("_")) :])
            found.setdefault(owner, {})[name] = Path(entry.path)
        elif any(part in shorts for part in parts[1:-1]):
            return None
    return found


def _copy_results(src: Store, dst: Store, run_id: str) -> int:
    structured = SupportsStructuredResults
    if not (isinstance(src, structured) and isinstance(dst, structured)):
        return 0
    copied = 0
    for name in sorted(src.list_results(run_id)):
        result = src.get_result(run_id, name)
        if result is None:
            continue
        dst.put_result(
            run_id,
            name,
            result.get("data"),
            result.get("dtype"),
            result.get("shape"),
            result.get("metadata"),
        )
        copied += 1
    return copied


def _artifact_source(src: Store, run_id: str, artifact: ArtifactDescriptor) -> bytes | Path | None:
    """The artifact's file (at its URI, or in the source's own artifact directory when the
    store was moved since), else its bytes from the store; None when it cannot be read."""
    at_uri = Path(artifact.uri)
    if artifact.uri and at_uri.is_file():
        return at_uri
    if isinstance(src, SupportsWorkingDirectory):
        moved = FileStoreLayout(src.get_working_directory()).artifact_dir(run_id) / at_uri.name
        if at_uri.name and moved.is_file():
            return moved
    try:
        return src.get_artifact(artifact.uri)
    except (OSError, ValueError) as exc:
        logger.warning("Failed to export artifact %s of run %s: %s", artifact.name, run_id, exc)
        return None


def _copy_artifacts(src: Store, dst: Store, run_id: str) -> int:
    copied = 0
    for artifact in src.list_artifacts(run_id):
        data = _artifact_source(src, run_id, artifact)
        if data is None:
            continue
        owned = replace(artifact, metadata={**artifact.metadata, "_run_id": run_id})
        dst.put_artifact(data, owned)
        copied += 1
    return copied


def _manifests(store: Store, experiment_id: str) -> dict[str, dict[str, Any]] | None:
    """Every manifest file of ``experiment_id`` in a file-backed store, by timestamp; None
    for a store without a directory."""
    if not isinstance(store, SupportsWorkingDirectory):
        return None
    directory = FileStoreLayout(store.get_working_directory()).experiments_dir_path()
    prefix = f"{safe_experiment_id(experiment_id)}_"
    found: dict[str, dict[str, Any]] = {}
    for path in directory.glob(f"{prefix}*.json"):
        stamp = path.stem[len(prefix) :]
        if not _TIMESTAMP.fullmatch(stamp):
            continue
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.warning("Skipping unreadable manifest %s: %s", path, exc)
            continue
        if isinstance(manifest, dict):
            found[stamp] = manifest
    return found


def _copy_manifests(src: Store, dst: Store, experiment_id: str, overwrite: bool) -> int:
    """Copy the experiment's manifests under their timestamps (the newest one, stamped now,
    from a store without files); a timestamp the destination has is kept unless ``overwrite``."""
    if not isinstance(dst, SupportsExperimentManifests):
        return 0
    stamped = _manifests(src, experiment_id)
    if stamped is None:
        newest = src.get_experiment_manifest(experiment_id)
        if newest is None:
            return 0
        dst.put_experiment_manifest(experiment_id, newest)
        return 1
    there = set(_manifests(dst, experiment_id) or {})
    copied = 0
    for stamp, manifest in sorted(stamped.items()):
        if stamp in there and not overwrite:
            continue
        dst.put_experiment_manifest(experiment_id, manifest, stamp)
        copied += 1
    return copied


def _close(store: Store) -> None:
    close: Callable[[], None] | None = getattr(store, "close", None)
    if close is not None:
        close()
