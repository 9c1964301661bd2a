"""A workspace's auxiliary folders applied to runs of an upstream-layout FileStore.

A run of the experiment store ``{workspace}/{experiment}`` is a set of entries:
``artifacts/{id}/``, ``results/{id}/``, ``logs/{id}/``, ``logs/{id}_*.log``,
``derived/{id}.json`` and, last, its record ``runs/{id}.json``. A folder mirrors them at the
same relative paths. The record is always copied last, so a folder holding a ``success``
record holds the whole run. Every entry goes through `metalab.workspace.folders`' primitives: staged
copies verified by SHA-256, moves as copy → verify → swap for a symlink, nothing written or
deleted through a symlink.

* `settle` finishes or undoes what a killed archive operation left in the experiment store;
* `restore_run` brings an archived run back before it would execute again (a copy from a
  ``backup``/``use`` folder; symlinks again, as the move left them, from the ``move`` folder);
* `unlink_archived` removes a run's symlinks into a ``move`` folder before it re-executes,
  so new output never lands in an archive;
* `archive_record` (the `FolderWorker`'s job, one queued record path) copies a successful run
  to every ``backup`` folder, then moves it to the ``move`` folder.

A run opts out with a ``runs/{id}.no-archive`` file next to its record.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from metalab.workspace.folders import (
    ArchiveResult,
    FolderError,
    copy_in,
    fsync_dir,
    move_to_folder,
    publish_copy,
    remove_tree,
    sweep_stale,
    tmp_path_for,
)
from metalab.workspace.settings import Folder, Workspace

log = logging.getLogger("metalab.folders")

SUCCESS = "success"
NO_ARCHIVE_SUFFIX = ".no-archive"
_PARTS = ("artifacts", "results", "logs", "derived", "runs")


def record_path(experiment_root: Path, run_id: str) -> Path:
    """Where the run's record lives in an experiment store."""
    return experiment_root / "runs" / f"{run_id}.json"


def no_archive_marker(experiment_root: Path, run_id: str) -> Path:
    """The per-run opt-out file: a run with this file is never archived."""
    return experiment_root / "runs" / f"{run_id}{NO_ARCHIVE_SUFFIX}"


def record_status(path: Path) -> str | None:
    """``status`` of a run record file; None when missing or unreadable."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    status = data.get("status") if isinstance(data, dict) else None
    return status if isinstance(status, str) else None


def run_entries(experiment_root: Path, run_id: str) -> list[str]:
    """The run's entries present under ``experiment_root`` (relative paths, record last)."""
    candidates = [f"artifacts/{run_id}", f"results/{run_id}", f"logs/{run_id}"]
    logs = experiment_root / "logs"
    if logs.is_dir():
        candidates += sorted(f"logs/{p.name}" for p in logs.glob(f"{run_id}_*.log"))
    candidates += [f"derived/{run_id}.json", f"runs/{run_id}.json"]
    return [rel for rel in candidates if os.path.lexists(experiment_root / rel)]


def settle(experiment_root: Path, workspace: Workspace | None) -> None:
    """Repair what a killed archive operation left in the experiment store (before reading)."""
    if workspace is None or not workspace.folders:
        return
    for part in _PARTS:
        sweep_stale(experiment_root / part)


def _relative(experiment_root: Path, workspace: Workspace) -> Path:
    try:
        return experiment_root.relative_to(workspace.path)
    except ValueError:
        raise FolderError(f"{experiment_root} is not inside workspace {workspace.path}") from None


def find_archived(
    experiment_root: Path,
    run_id: str,
    workspace: Workspace,
    modes: Iterable[str] = ("move", "backup", "use"),
) -> tuple[Folder, Path] | None:
    """The first folder holding the run with a ``success`` record, and the experiment
    directory there: the ``move`` folder first (restoring from it is relinking), then the
    others in file order."""
    rel = _relative(experiment_root, workspace)
    wanted = set(modes)
    ordered = sorted(workspace.folders, key=lambda folder: folder.mode != "move")
    for folder in ordered:
        if folder.mode in wanted:
            candidate = folder.path / rel
            if record_status(record_path(candidate, run_id)) == SUCCESS:
                return folder, candidate
    return None


def restore_run(experiment_root: Path, run_id: str, workspace: Workspace | None) -> bool:
    """Copy the run back from a folder when the workspace lacks its record; True if done.

    A dangling record symlink (an unmounted ``move`` folder) with no copy anywhere is a
    `FolderError`, rather than a run written into nowhere.
    """
    if workspace is None or workspace.is_remote or not workspace.folders:
        return False
    record = record_path(experiment_root, run_id)
    if record.exists():
        return False
    found = find_archived(experiment_root, run_id, workspace)
    if found is None:
        if record.is_symlink():
            raise FolderError(
                f"{record} links to {os.readlink(record)}, which is missing "
                "(is the move folder mounted?)"
            )
        return False
    folder, source_root = found
    for rel in run_entries(source_root, run_id):
        target = experiment_root / rel
        if os.path.lexists(target) and not target.is_symlink():
            remove_tree(target)  # leftovers of a run whose record is gone
        if folder.mode == "move":
            _link_in(source_root / rel, target)  # back to what the move left: a symlink
        else:
            copy_in(source_root / rel, target)
    log.info("restored run %s from %s folder %s", run_id, folder.mode, folder.path)
    return True


def _link_in(source: Path, target: Path) -> None:
    """Point ``target`` at the verified copy ``source``, atomically (a dangling link is
    replaced, never followed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    link = tmp_path_for(target, "link")
    os.symlink(source, link)
    try:
        os.replace(link, target)
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def unlink_archived(experiment_root: Path, run_id: str) -> int:
    """Unlink (never follow) the run's symlinks into a folder; returns how many."""
    removed = 0
    for rel in run_entries(experiment_root, run_id):
        path = experiment_root / rel
        if path.is_symlink():
            path.unlink()
            removed += 1
    return removed


def needs_archive(experiment_root: Path, run_id: str, workspace: Workspace) -> bool:
    """True for a successful run a ``backup`` folder lacks, or with entries a ``move`` folder
    should still take; cheap: a few ``stat`` calls."""
    record = record_path(experiment_root, run_id)
    if no_archive_marker(experiment_root, run_id).exists() or record_status(record) != SUCCESS:
        return False
    try:
        rel = _relative(experiment_root, workspace)
    except FolderError:
        return False
    if any(
        not record_path(f.path / rel, run_id).is_file() for f in workspace.folders_with("backup")
    ):
        return True
    return bool(workspace.folders_with("move")) and any(
        not (experiment_root / entry).is_symlink() for entry in run_entries(experiment_root, run_id)
    )


def _copy_run(source_root: Path, entries: list[str], destination_root: Path) -> None:
    stale = destination_root / entries[-1]
    if stale.is_file() and not stale.is_symlink():
        stale.unlink()  # a folder never shows a record next to another run's files
    for rel in entries:
        source = source_root / rel
        if source.is_symlink():
            source = source.resolve()
        publish_copy(source, destination_root / rel)


def _move_run(source_root: Path, entries: list[str], destination_root: Path) -> str:
    moved = 0
    for rel in entries:
        source, destination = source_root / rel, destination_root / rel
        if source.is_symlink():
            if source.resolve() == destination.resolve():
                continue
            raise FolderError(f"{source} is a symlink to {os.readlink(source)}")
        move_to_folder(source, destination)
        moved += 1
    return "moved" if moved else "skipped: already moved"


def archive_record(record: Path, workspace: Workspace) -> list[ArchiveResult]:
    """Archive the run whose record is ``record`` (``{experiment}/runs/{id}.json``).

    Failures are returned, never raised, for `OSError` and `FolderError`; runs that did not
    succeed, or opted out, are skipped.
    """
    targets = [*workspace.folders_with("backup"), *workspace.folders_with("move")]
    if not targets:
        return []
    experiment_root, run_id = record.parent.parent, record.stem
    try:
        rel = _relative(experiment_root, workspace)
    except FolderError as exc:
        return [ArchiveResult(record, f.path, f.mode, f"failed: {exc}") for f in targets]
    why = None
    if no_archive_marker(experiment_root, run_id).exists():
        why = "skipped: opted out"
    elif not os.path.lexists(record):
        why = "skipped: no such run"
    elif (status := record_status(record)) != SUCCESS:
        why = f"skipped: status {status}"
    if why:
        return [ArchiveResult(record, f.path, f.mode, why) for f in targets]
    entries = run_entries(experiment_root, run_id)
    results = []
    for folder in targets:
        destination = folder.path / rel
        try:
            if folder.mode == "move":
                outcome = _move_run(experiment_root, entries, destination)
            else:
                _copy_run(experiment_root, entries, destination)
                outcome = "copied"
        except (OSError, FolderError) as exc:
            log.debug("archiving %s to %s failed: %s", record, folder.path, exc)
            outcome = f"failed: {exc}"
        results.append(ArchiveResult(record, folder.path, folder.mode, outcome))
    return results
