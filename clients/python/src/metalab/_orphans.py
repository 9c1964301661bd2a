"""Run directories no experiment refers to (`metalab orphans`), and archived runs.

An experiment refers to the runs listed in its ``experiment.json`` ``run_ids`` when that key
exists, else (conservatively) to every run under it; a run directory whose experiment has no
``experiment.json`` is referred to by nobody.

Kinds:

* ``orphan``: a workspace run directory nobody refers to. ``--clean`` removes it; a symlink is
  unlinked, never followed, so an archive copy behind it is never touched.
* ``recoverable``: a run held by a ``backup``/``move`` folder but not (or only as a symlink) in
  the workspace. Never cleaned; `metalab runs recover` brings it back. With ``--no-folders``
  folders are ignored and workspace symlinks into them count as ``orphan``.
* ``stale-temp``: a ``.tmp.*`` leftover of a crashed archive operation; ``--clean`` finishes or
  undoes it with `metalab._folders.sweep_stale` (a set-aside copy is put back, never lost).

``use`` folders are never scanned.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from metalab._folders import TMP_PREFIX, is_tmp_name, sweep_stale
from metalab._settings import Workspace

ORPHAN, RECOVERABLE, STALE = "orphan", "recoverable", "stale-temp"


@dataclass(frozen=True)
class Entry:
    kind: str
    experiment_id: str
    run_id: str
    path: Path
    where: str  # "workspace" or "<mode> folder"

    @property
    def name(self) -> str:
        return f"{self.experiment_id}/{self.run_id}"


def _referenced(experiment_dir: Path) -> set[str] | None:
    """Run ids ``experiment.json`` refers to; None means all of them; empty set: none."""
    try:
        data = json.loads((experiment_dir / "experiment.json").read_bytes())
    except FileNotFoundError:
        return set()
    except (OSError, ValueError):
        return None  # unreadable: assume referenced, never clean what we cannot judge
    run_ids = data.get("run_ids") if isinstance(data, dict) else None
    if isinstance(run_ids, list):
        return {str(r) for r in run_ids}
    return None


def _run_dirs(root: Path) -> list[tuple[str, str, Path]]:
    out: list[tuple[str, str, Path]] = []
    try:
        experiments = sorted(os.scandir(root), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return out
    for experiment in experiments:
        if experiment.name.startswith(".") or not experiment.is_dir(follow_symlinks=False):
            continue
        runs = Path(experiment.path) / "runs"
        if runs.is_symlink():
            continue  # never list (nor clean) through a link, e.g. into an archive folder
        try:
            entries = sorted(os.scandir(runs), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name.startswith(TMP_PREFIX) or entry.is_symlink() or entry.is_dir():
                out.append((experiment.name, entry.name, Path(entry.path)))
    return out


def find_orphans(workspace: Workspace, *, use_folders: bool = True) -> list[Entry]:
    entries: list[Entry] = []
    refs: dict[str, set[str] | None] = {}

    def referenced(experiment_id: str, run_id: str) -> bool:
        if experiment_id not in refs:
            refs[experiment_id] = _referenced(workspace.path / experiment_id)
        wanted = refs[experiment_id]
        return wanted is None or run_id in wanted

    archives = workspace.folders_with("backup", "move") if use_folders else ()
    for experiment_id, run_id, path in _run_dirs(workspace.path):
        if run_id.startswith(TMP_PREFIX):
            if is_tmp_name(run_id):
                entries.append(Entry(STALE, experiment_id, run_id, path, "workspace"))
            continue
        if referenced(experiment_id, run_id):
            continue
        archived = path.is_symlink() and any(
            (f.path / experiment_id / "runs" / run_id).is_dir() for f in archives
        )
        entries.append(
            Entry(RECOVERABLE if archived else ORPHAN, experiment_id, run_id, path, "workspace")
        )
    for folder in archives:
        for experiment_id, run_id, path in _run_dirs(folder.path):
            where = f"{folder.mode} folder"
            if run_id.startswith(TMP_PREFIX):
                if is_tmp_name(run_id):
                    entries.append(Entry(STALE, experiment_id, run_id, path, where))
                continue
            if (workspace.path / experiment_id / "runs" / run_id).exists():
                continue  # the workspace copy (or its symlink to this archive) is listed above
            entries.append(Entry(RECOVERABLE, experiment_id, run_id, path, where))
    return entries


def clean(entries: list[Entry]) -> list[Path]:
    """Remove ``orphan`` entries and settle ``stale-temp`` ones; never touches archives."""
    import shutil

    removed: list[Path] = []
    swept: set[Path] = set()
    for entry in entries:
        if entry.kind == ORPHAN:
            if entry.path.is_symlink():
                entry.path.unlink()
            elif entry.path.is_dir():
                shutil.rmtree(entry.path)
            removed.append(entry.path)
        elif entry.kind == STALE and entry.path.parent not in swept:
            swept.add(entry.path.parent)
            removed += sweep_stale(entry.path.parent)
    return removed
