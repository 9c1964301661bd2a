"""Archive operations: publish a verified copy, move to a folder, archive, find, restore and
recover runs of the project's earlier layout."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from metalab.workspace.folders.primitives import (
    NO_ARCHIVE_MARKER,
    FolderError,
    checkpoint,
    copy_tree,
    discard,
    exchange,
    fsync_dir,
    parse_tmp,
    remove_tree,
    run_status,
    safe_rel,
    tmp_path_for,
    tree_digest,
    verify,
)
from metalab.workspace.folders.recovery import sweep_stale
from metalab.workspace.settings import Folder, Workspace

log = logging.getLogger("metalab.folders")


def publish_copy(source: Path, destination: Path) -> None:
    """Make ``destination`` a verified copy of ``source`` (replacing any older copy)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(destination.parent)
    if (destination.is_dir() or destination.is_file()) and not destination.is_symlink():
        if tree_digest(destination) == tree_digest(source):
            return
    stage = tmp_path_for(destination, "stage")
    try:
        copy_tree(source, stage)
        checkpoint("copied")
        verify(source, stage)
        checkpoint("verified")
        if destination.exists() or destination.is_symlink():
            stage = _replace(stage, destination, "old", "replaced")
            remove_tree(stage)
        else:
            os.rename(stage, destination)
            fsync_dir(destination.parent)
            checkpoint("published")
    except BaseException:
        if stage.exists() and parse_tmp(stage.name) and stage.name.endswith(".stage"):
            discard(stage)
        raise


def move_to_folder(source: Path, destination: Path) -> None:
    """Copy → verify → swap ``source`` for a symlink to ``destination``."""
    publish_copy(source, destination)
    verify(source, destination)
    checkpoint("destination-verified")
    link = tmp_path_for(source, "link")
    os.symlink(destination, link)
    checkpoint("link-created")
    try:
        old = _replace(link, source, "aside", "swapped")
    except BaseException:
        if link.is_symlink():
            link.unlink()
        raise
    remove_tree(old)
    checkpoint("done")


@dataclass(frozen=True)
class ArchiveResult:
    run_dir: Path
    folder: Path
    mode: str
    outcome: str  # "copied", "moved", "skipped: <why>", "failed: <why>"

    @property
    def ok(self) -> bool:
        return not self.outcome.startswith("failed")


def archive_run(run_dir: Path, workspace: Workspace) -> list[ArchiveResult]:
    """Copy ``run_dir`` to every ``backup`` folder, then move it to the ``move`` folder.

    Synchronous (the worker calls it); failures are returned, never raised, for `OSError` and
    `FolderError`. Runs whose ``run.json`` says anything but ``completed`` are skipped.
    """
    targets = [f for f in workspace.folders if f.mode == "backup"]
    targets += [f for f in workspace.folders if f.mode == "move"]
    if not targets:
        return []
    try:
        rel = run_dir.relative_to(workspace.path)
    except ValueError:
        return [
            ArchiveResult(run_dir, f.path, f.mode, f"failed: not inside workspace {workspace.path}")
            for f in targets
        ]
    status = run_status(run_dir)
    why = None
    if (run_dir / NO_ARCHIVE_MARKER).exists():
        why = "skipped: opted out"
    elif status is not None and status != "completed":
        why = f"skipped: status {status}"
    elif not run_dir.is_dir():
        why = "skipped: no such directory"
    if why:
        return [ArchiveResult(run_dir, f.path, f.mode, why) for f in targets]
    results = []
    for folder in targets:
        destination = folder.path / rel
        try:
            if folder.mode == "move":
                if run_dir.is_symlink():
                    if run_dir.resolve() == destination.resolve():
                        results.append(
                            ArchiveResult(run_dir, folder.path, "move", "skipped: already moved")
                        )
                        continue
                    raise FolderError(f"{run_dir} is a symlink to {os.readlink(run_dir)}")
                move_to_folder(run_dir, destination)
                outcome = "moved"
            else:
                publish_copy(run_dir, destination)
                outcome = "copied"
        except (OSError, FolderError) as exc:
            # The worker thread must not print: a run captured at the file-descriptor level
            # meanwhile would swallow the line. The caller reports failures (Archiver.drain).
            log.debug("archiving %s to %s failed: %s", run_dir, folder.path, exc)
            outcome = f"failed: {exc}"
        results.append(ArchiveResult(run_dir, folder.path, folder.mode, outcome))
    return results


def find_archived(
    run_dir_rel: str | os.PathLike[str],
    workspace: Workspace,
    modes: Iterable[str] = ("move", "backup", "use"),
) -> tuple[Folder, Path] | None:
    """The first folder (file order) holding a completed copy of the run, and that copy.

    A copy without a readable ``run.json`` saying ``completed`` (a partial or foreign
    directory) is passed over.
    """
    rel = safe_rel(run_dir_rel)
    wanted = set(modes)
    for folder in workspace.folders:
        if folder.mode not in wanted:
            continue
        candidate = folder.path / rel
        if candidate.is_dir() and run_status(candidate) == "completed":
            return folder, candidate
    return None


def copy_in(source: Path, target: Path) -> None:
    """Make ``target`` a verified copy of ``source`` (staged, then renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = tmp_path_for(target, "stage")
    try:
        copy_tree(source, stage)
        checkpoint("restore-copied")
        verify(source, stage)
        if target.is_symlink():  # a dangling link (its archive is gone or unmounted)
            target.unlink()
        os.rename(stage, target)
        fsync_dir(target.parent)
        checkpoint("restored")
    except BaseException:
        if stage.exists():
            discard(stage)
        raise


def restore_if_archived(
    run_dir_rel: str | os.PathLike[str], workspace: Workspace | None, *, sweep: bool = True
) -> bool:
    """Before executing a run: copy it back from a folder when the workspace lacks it.

    ``run_dir_rel`` is ``{experiment_id}/runs/{run_id}`` (relative to the workspace path).
    True when a copy was restored; the caller then reads the run's state again (a restored
    completed run is not re-run). A dangling symlink (unmounted ``move`` folder) with no other
    copy raises `FolderError` rather than letting the run write into nowhere. ``sweep=False``
    when the caller already ran `sweep_stale` on the runs directory (once per sweep, not per run).
    """
    if workspace is None or workspace.is_remote or not workspace.folders:
        return False
    rel = safe_rel(run_dir_rel)
    target = workspace.path / rel
    if sweep:
        sweep_stale(target.parent)
    if target.exists():
        return False
    dangling = target.is_symlink()
    found = find_archived(rel, workspace)
    if found is None:
        if dangling:
            raise FolderError(
                f"{target} links to {os.readlink(target)}, which is missing "
                "(is the move folder mounted?)"
            )
        return False
    folder, source = found
    copy_in(source, target)
    log.info("restored %s from %s folder %s", rel, folder.mode, folder.path)
    return True


def needs_archive(run_dir: Path, workspace: Workspace) -> bool:
    """True for a workspace run directory that a ``backup`` folder lacks or a ``move`` folder
    should take (a catch-up after an interrupted `metalab.run`); cheap: a few ``stat`` calls."""
    if run_dir.is_symlink() or not run_dir.is_dir() or (run_dir / NO_ARCHIVE_MARKER).exists():
        return False
    try:
        rel = run_dir.relative_to(workspace.path)
    except ValueError:
        return False
    return any(
        f.mode == "move" or not (f.path / rel).is_dir()
        for f in workspace.folders_with("backup", "move")
    )


def recover_run(run_dir_rel: str | os.PathLike[str], workspace: Workspace) -> Folder | None:
    """`metalab runs recover`: copy a run back; None when it is already in the workspace.

    `FolderError` when no folder holds it.
    """
    rel = safe_rel(run_dir_rel)
    target = workspace.path / rel
    sweep_stale(target.parent)
    if target.exists():
        return None
    found = find_archived(rel, workspace)
    if found is None:
        searched = ", ".join(str(f.path) for f in workspace.folders) or "no folders configured"
        raise FolderError(
            f"{rel} is not in workspace {workspace.id} nor in any folder ({searched})"
        )
    folder, source = found
    copy_in(source, target)
    return folder


def _replace(new: Path, target: Path, aside: str, done: str) -> Path:
    """Put ``new`` in ``target``'s place: one atomic exchange where the filesystem has it,
    else ``target`` set aside (``aside`` names it; put back if the rename fails) first.
    Returns where the old ``target`` now is."""
    if exchange(new, target):
        fsync_dir(target.parent)
        checkpoint(done)
        return new
    old = tmp_path_for(target, aside)
    os.rename(target, old)
    try:
        checkpoint("set-aside")
        os.rename(new, target)
    except BaseException:
        if not target.exists() and not target.is_symlink():
            os.rename(old, target)
        raise
    fsync_dir(target.parent)
    checkpoint(done)
    return old
