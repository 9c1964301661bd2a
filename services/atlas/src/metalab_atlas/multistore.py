"""Several FileStores under one directory (upstream's multi-store mode): Atlas given a root
that holds stores in subdirectories, up to two levels deep, serves them all.

A store is a directory holding at least one experiment directory (the project's
``experiment.json`` or upstream's ``_meta.json``). Discovery walks at most `MAX_DEPTH`
levels below the root, never follows a symbolic link (a link is neither a store nor walked
through), skips hidden directories and ``services``, stops descending at a store, and keeps at
most `MAX_STORES` stores, reading at most `MAX_ENTRIES` entries per directory. The root's own
experiments keep their ids; a nested store's are ``KEY::ID``, ``KEY`` its path under the root
with ``/`` written ``.`` (``lab-b/2026`` → ``lab-b.2026``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metalab_atlas.query import EXPERIMENT_ID, STORE_KEY, Field, KnownFields, NotFound, RunQuery
from metalab_atlas.source import FileSource, RunSource
from metalab_atlas.storefiles import StoreFiles
from metalab_atlas.upstream import META

MAX_DEPTH = 2
MAX_STORES = 32
MAX_ENTRIES = 4096
SEP = "::"
SKIPPED = ("services",)
LIMITS = {"depth": MAX_DEPTH, "stores": MAX_STORES}


@dataclass(frozen=True)
class Found:
    """One discovered store: ``key`` ("" for the root) and its path relative to the root."""

    key: str
    relative: str
    path: Path


def _entries(directory: str) -> list[os.DirEntry[str]]:
    """At most `MAX_ENTRIES` real subdirectories (no symbolic links), by name."""
    out: list[os.DirEntry[str]] = []
    try:
        with os.scandir(directory) as listing:
            for n, entry in enumerate(listing):
                if n >= MAX_ENTRIES:
                    break
                if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                    out.append(entry)
    except OSError:
        return []
    return sorted(out, key=lambda e: e.name)


def is_experiment(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "experiment.json")) or os.path.isfile(
        os.path.join(directory, META)
    )


def holds_experiments(directory: str) -> bool:
    return any(
        EXPERIMENT_ID.fullmatch(e.name) and is_experiment(e.path) for e in _entries(directory)
    )


def discover(root: Path) -> tuple[list[Found], bool]:
    """The stores under ``root`` (not the root itself), in path order, and whether more than
    `MAX_STORES` were there."""
    found: list[Found] = []
    real_root = os.path.realpath(root)

    def walk(directory: str, parts: tuple[str, ...]) -> bool:
        for entry in _entries(directory):
            if (entry.name in SKIPPED and not parts) or not STORE_KEY.fullmatch(entry.name):
                continue
            if is_experiment(entry.path):
                continue  # an experiment of the directory being walked
            if os.path.commonpath([real_root, os.path.realpath(entry.path)]) != real_root:
                continue
            here = (*parts, entry.name)
            if holds_experiments(entry.path):
                if len(found) >= MAX_STORES:
                    return True
                found.append(Found(".".join(here), "/".join(here), Path(entry.path)))
            elif len(here) < MAX_DEPTH and walk(entry.path, here):
                return True
        return False

    more = walk(str(root), ())
    keys: set[str] = set()
    unique = []
    for store in found:  # "a.b" and "a/b" would share a key: the second is left out
        if store.key not in keys and len(store.key) <= 64:
            keys.add(store.key)
            unique.append(store)
    return unique, more


def split(experiment_id: str) -> tuple[str, str]:
    """``(store key, id in that store)``; the key is "" for the root's experiments."""
    key, sep, local = experiment_id.rpartition(SEP)
    return (key, local) if sep else ("", experiment_id)


def join(key: str, local: str) -> str:
    return f"{key}{SEP}{local}" if key else local


class MultiFiles(StoreFiles):
    """`StoreFiles` over every store, by the store key in the experiment id."""

    def __init__(self, root: Path, stores: dict[str, FileSource]) -> None:
        super().__init__(root)
        self._stores = stores

    def _files(self, experiment_id: str) -> tuple[StoreFiles, str]:
        key, local = split(experiment_id)
        source = self._stores.get(key)
        if source is None:
            raise NotFound(f"no store {key!r}")
        return source.files, local

    def is_upstream(self, experiment_id: str) -> bool:
        files, local = self._files(experiment_id)
        return files.is_upstream(local)

    def upstream_base(self, experiment_id: str) -> str:
        files, local = self._files(experiment_id)
        return files.upstream_base(local)

    def record(self, experiment_id: str, run_id: str) -> dict[str, Any] | None:
        files, local = self._files(experiment_id)
        return files.record(local, run_id)

    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]:
        files, local = self._files(experiment_id)
        return files.steps(local, run_id)

    def step_curves(
        self, experiment_id: str, run_ids: list[str], name: str
    ) -> dict[str, list[list[Any]]]:
        files, local = self._files(experiment_id)
        return files.step_curves(local, run_ids, name)

    def step_names(self, experiment_id: str, run_ids: list[str]) -> list[str]:
        files, local = self._files(experiment_id)
        return files.step_names(local, run_ids)

    def logs(self, experiment_id: str, run_id: str) -> dict[str, int]:
        files, local = self._files(experiment_id)
        return files.logs(local, run_id)

    def log(self, experiment_id: str, run_id: str, stream: str) -> tuple[str, int]:
        files, local = self._files(experiment_id)
        return files.log(local, run_id, stream)

    def artifacts(self, experiment_id: str, run_id: str) -> list[dict[str, Any]]:
        files, local = self._files(experiment_id)
        return files.artifacts(local, run_id)

    def artifact_path(self, experiment_id: str, run_id: str, relative: str) -> Path:
        files, local = self._files(experiment_id)
        return files.artifact_path(local, run_id, relative)

    def open_artifact(self, experiment_id: str, run_id: str, relative: str) -> int:
        files, local = self._files(experiment_id)
        return files.open_artifact(local, run_id, relative)


class MultiSource:
    """A `RunSource` over the root's own experiments and every discovered store's."""

    kind = "file"

    def __init__(
        self, root: Path, found: list[Found], more: bool, refresh_interval: float, freeze_gc: bool
    ) -> None:
        self.root = root
        self.found = found
        self.more = more
        self.stores: dict[str, FileSource] = {"": FileSource(root, refresh_interval, freeze_gc)}
        for store in found:
            self.stores[store.key] = FileSource(store.path, refresh_interval, freeze_gc)
        self.files: StoreFiles = MultiFiles(root, self.stores)

    def _at(self, experiment_id: str) -> tuple[FileSource, str]:
        key, local = split(experiment_id)
        source = self.stores.get(key)
        if source is None:
            raise NotFound(f"no store {key!r}")
        return source, local

    def start(self) -> None:
        for source in self.stores.values():
            source.start()

    def close(self) -> None:
        for source in self.stores.values():
            source.close()

    def check(self) -> tuple[bool, str]:
        return self.stores[""].check()

    def listing(self) -> dict[str, Any]:
        """What ``/api/stores`` answers: each store, its experiments and runs."""
        stores = []
        for store in [Found("", ".", self.root), *self.found]:
            experiments = self.stores[store.key].experiments()
            stores.append(
                {
                    "key": store.key,
                    "path": store.relative,
                    "experiments": len(experiments),
                    "runs": sum(int(e.get("runs") or 0) for e in experiments),
                }
            )
        return {
            "stores": stores,
            "truncated": self.more,
            "limits": LIMITS,
        }

    def resolve(self, experiment_id: str) -> str:
        source, local = self._at(experiment_id)
        return join(split(experiment_id)[0], source.resolve(local))

    def experiments(self) -> list[dict[str, Any]]:
        out = []
        for key, source in self.stores.items():
            for summary in source.experiments():
                out.append({**summary, "experiment_id": join(key, summary["experiment_id"])})
                out[-1]["store"] = key
        return sorted(out, key=lambda s: s["last_activity"] or "", reverse=True)

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        source, local = self._at(experiment_id)
        found = source.experiment(local)
        return {**found, "experiment_id": experiment_id, "store": split(experiment_id)[0]}

    def fields(self, experiment_id: str, wanted: Sequence[str] = ()) -> KnownFields:
        source, local = self._at(experiment_id)
        return source.fields(local, wanted)

    def runs(self, experiment_id: str, query: RunQuery) -> tuple[int, list[dict[str, Any]]]:
        source, local = self._at(experiment_id)
        return source.runs(local, query)

    def run(self, experiment_id: str, run_id: str) -> dict[str, Any]:
        source, local = self._at(experiment_id)
        return source.run(local, run_id)

    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]:
        source, local = self._at(experiment_id)
        return source.steps(local, run_id)

    def step_curves(
        self, experiment_id: str, run_ids: list[str], name: str
    ) -> dict[str, list[list[Any]]]:
        source, local = self._at(experiment_id)
        return source.step_curves(local, run_ids, name)

    def step_names(self, experiment_id: str, run_ids: list[str]) -> list[str]:
        source, local = self._at(experiment_id)
        return source.step_names(local, run_ids)

    def plot(
        self, experiment_id: str, query: RunQuery, x: Field, y: Field, group: Field | None
    ) -> list[dict[str, Any]]:
        source, local = self._at(experiment_id)
        return source.plot(local, query, x, y, group)

    def values(
        self, experiment_id: str, query: RunQuery, f: Field, group: Field | None
    ) -> tuple[int, list[tuple[str | None, float]]]:
        source, local = self._at(experiment_id)
        return source.values(local, query, f, group)

    def slurm_jobs(self, experiment_id: str) -> list[str]:
        source, local = self._at(experiment_id)
        return source.slurm_jobs(local)


def open_directory(root: Path, refresh_interval: float, freeze_gc: bool) -> RunSource:
    """A `FileSource` for ``root``, or a `MultiSource` when stores are nested under it."""
    found, more = discover(root)
    if not found:
        return FileSource(root, refresh_interval, freeze_gc)
    return MultiSource(root, found, more, refresh_interval, freeze_gc)
