"""Runs no experiment refers to (`metalab orphans`), and archived runs.

Both store layouts are read. In upstream's (``{exp}/_meta.json``, ``runs/{id}.json``) an
experiment refers to the ``run_ids`` of its newest manifest (``experiments/*.json``, written by
the latest `metalab.run`), else (no such key) to every run; without a manifest, to none. A run
is its record plus its files (`metalab._archive.run_entries`). In the project's earlier layout
(``{exp}/runs/{id}/``) the references are ``experiment.json``'s ``run_ids``.

Kinds:

* ``orphan``: a workspace run nobody refers to. ``--clean`` removes it; symlinks are unlinked,
  never followed, so an archive copy behind them is never touched.
* ``recoverable``: a run held by a ``backup``/``move`` folder but not (or only as a symlink) in
  the workspace. Never cleaned; `metalab runs recover` brings it back. With ``--no-folders``
  folders are ignored and workspace symlinks into them count as ``orphan``.
* ``stale-temp``: a ``.tmp.*`` leftover of a crashed archive operation; ``--clean`` finishes or
  undoes it with `metalab.workspace.folders.sweep_stale` (a set-aside copy is put back, never lost).

``use`` folders are never scanned.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from metalab.workspace.folders import TMP_PREFIX, is_tmp_name, sweep_stale
from metalab.workspace.settings import Workspace

ORPHAN, RECOVERABLE, STALE = "orphan", "recoverable", "stale-temp"
UPSTREAM, EARLIER = "upstream", "earlier"
_RUN_PARTS = ("runs", "artifacts", "results", "logs", "derived")


@dataclass(frozen=True)
class Entry:
    kind: str
    experiment_id: str  # the experiment's directory name
    run_id: str
    path: Path  # the run's record (upstream layout) or directory (earlier layout)
    where: str  # "workspace" or "<mode> folder"
    layout: str = UPSTREAM

    @property
    def name(self) -> str:
        return f"{self.experiment_id}/{self.run_id}"


def layout_of(experiment_dir: Path) -> str:
    """``upstream`` for a FileStore experiment directory, ``earlier`` for the old layout
    (``experiment.json``, or run directories under ``runs/``)."""
    if (experiment_dir / "_meta.json").exists() or (experiment_dir / "experiments").is_dir():
        return UPSTREAM
    if (experiment_dir / "experiment.json").exists():
        return EARLIER
    for entry in _scan(experiment_dir / "runs"):
        if not entry.name.startswith(TMP_PREFIX) and entry.is_dir():
            return EARLIER
    return UPSTREAM


def _manifest_run_ids(experiment_dir: Path) -> set[str] | None:
    manifests = experiment_dir / "experiments"
    try:
        newest = max(manifests.glob("*.json"), key=lambda p: p.stat().st_mtime, default=None)
        if newest is None:
            return set()
        data = json.loads(newest.read_bytes())
    except (OSError, ValueError):
        return None  # unreadable: assume referenced, never clean what we cannot judge
    run_ids = data.get("run_ids") if isinstance(data, dict) else None
    return {str(r) for r in run_ids} if isinstance(run_ids, list) else None


def _referenced(experiment_dir: Path) -> set[str] | None:
    """Run ids the experiment refers to; None means all of them; empty set: none."""
    if layout_of(experiment_dir) == UPSTREAM:
        return _manifest_run_ids(experiment_dir)
    try:
        data = json.loads((experiment_dir / "experiment.json").read_bytes())
    except FileNotFoundError:
        return set()
    except (OSError, ValueError):
        return None
    run_ids = data.get("run_ids") if isinstance(data, dict) else None
    if isinstance(run_ids, list):
        return {str(r) for r in run_ids}
    return None


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    if directory.is_symlink():
        return []  # never list (nor clean) through a link, e.g. into an archive folder
    try:
        return sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _runs(root: Path) -> Iterator[tuple[str, str, Path, str]]:
    """``(experiment, run id or .tmp name, path, layout)`` of every run under ``root``."""
    for experiment in _scan(root):
        if experiment.name.startswith(".") or not experiment.is_dir(follow_symlinks=False):
            continue
        experiment_dir = Path(experiment.path)
        layout = layout_of(experiment_dir)
        if layout == EARLIER:
            for entry in _scan(experiment_dir / "runs"):
                if entry.name.startswith(TMP_PREFIX) or entry.is_symlink() or entry.is_dir():
                    yield experiment.name, entry.name, Path(entry.path), layout
            continue
        for part in _RUN_PARTS:
            for entry in _scan(experiment_dir / part):
                if entry.name.startswith(TMP_PREFIX):
                    yield experiment.name, entry.name, Path(entry.path), layout
                elif part == "runs" and entry.name.endswith(".json"):
                    yield experiment.name, entry.name[: -len(".json")], Path(entry.path), layout


def _present(root: Path, experiment: str, run_id: str, layout: str) -> bool:
    if layout == EARLIER:
        return (root / experiment / "runs" / run_id).exists()
    return (root / experiment / "runs" / f"{run_id}.json").exists()


def _archived(folder_root: Path, experiment: str, run_id: str, layout: str) -> bool:
    if layout == EARLIER:
        return (folder_root / experiment / "runs" / run_id).is_dir()
    return (folder_root / experiment / "runs" / f"{run_id}.json").is_file()


def find_orphans(workspace: Workspace, *, use_folders: bool = True) -> list[Entry]:
    entries: list[Entry] = []
    refs: dict[str, set[str] | None] = {}

    def referenced(experiment: str, run_id: str) -> bool:
        if experiment not in refs:
            refs[experiment] = _referenced(workspace.path / experiment)
        wanted = refs[experiment]
        return wanted is None or run_id in wanted

    archives = workspace.folders_with("backup", "move") if use_folders else ()
    for experiment, run_id, path, layout in _runs(workspace.path):
        if run_id.startswith(TMP_PREFIX):
            if is_tmp_name(run_id):
                entries.append(Entry(STALE, experiment, run_id, path, "workspace", layout))
            continue
        if referenced(experiment, run_id):
            continue
        archived = path.is_symlink() and any(
            _archived(f.path, experiment, run_id, layout) for f in archives
        )
        kind = RECOVERABLE if archived else ORPHAN
        entries.append(Entry(kind, experiment, run_id, path, "workspace", layout))
    for folder in archives:
        where = f"{folder.mode} folder"
        for experiment, run_id, path, layout in _runs(folder.path):
            if run_id.startswith(TMP_PREFIX):
                if is_tmp_name(run_id):
                    entries.append(Entry(STALE, experiment, run_id, path, where, layout))
                continue
            if _present(workspace.path, experiment, run_id, layout):
                continue  # the workspace copy (or its symlink to this archive) is listed above
            entries.append(Entry(RECOVERABLE, experiment, run_id, path, where, layout))
    return entries


def _remove(path: Path) -> None:
    import shutil

    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def clean(entries: list[Entry]) -> list[Path]:
    """Remove ``orphan`` entries and settle ``stale-temp`` ones; never touches archives."""
    from metalab._archive import run_entries

    removed: list[Path] = []
    swept: set[Path] = set()
    for entry in entries:
        if entry.kind == ORPHAN:
            if entry.layout == EARLIER:
                _remove(entry.path)
            else:
                experiment_dir = entry.path.parent.parent
                for rel in run_entries(experiment_dir, entry.run_id):
                    _remove(experiment_dir / rel)
                for leftover in (
                    experiment_dir / ".locks" / f"{entry.run_id}.lock",
                    experiment_dir / "runs" / f"{entry.run_id}.no-archive",
                ):
                    leftover.unlink(missing_ok=True)
            removed.append(entry.path)
        elif entry.kind == STALE and entry.path.parent not in swept:
            swept.add(entry.path.parent)
            removed += sweep_stale(entry.path.parent)
    return removed
