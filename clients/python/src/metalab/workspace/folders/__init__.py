"""Auxiliary folders of a workspace: archive finished runs, restore them, never lose one.

The primitives (`publish_copy`, `move_to_folder`, `copy_in`, `sweep_stale`) work on any file or
directory; `metalab._archive` applies them to the runs of upstream-layout stores. The functions
named after runs here (`archive_run`, `find_archived`, `restore_if_archived`, `recover_run`)
handle the project's earlier layout, where a folder mirrors the workspace: the run
``{workspace}/{experiment}/runs/{run}`` lives at ``{folder}/{experiment}/runs/{run}``.
Modes: ``backup`` (copy after success), ``move`` (copy, then replace the workspace path by a
symlink to the copy), ``use`` (read-only lookups).

Every change is crash-safe, at every step (tests kill a process at each `primitives.checkpoint`):

* a copy is staged in a sibling ``.tmp.*`` directory, fsynced, verified (names, sizes, SHA-256)
  against the source, then renamed into place. Replacing an existing copy swaps the two
  directories atomically (``renameat2(RENAME_EXCHANGE)``), then deletes the old one;
* a move is copy → verify → swap: a symlink to the verified copy is created under a ``.tmp.*``
  name and atomically exchanged with the run directory, so the workspace path always holds the
  old directory or the symlink to a complete copy; only then is the old directory deleted;
* on filesystems without ``RENAME_EXCHANGE`` the swap is two renames; the short window where
  the path is missing is repaired by `sweep_stale`, which every operation runs first and which
  puts a set-aside directory back when its original name is missing.

``.tmp.*`` names carry the host and pid of their owner; `sweep_stale` only touches those of
dead local processes. Copies skip ``*.lock``, ``*.pid`` and scheduler-internal directories.
A run directory holding ``.metalab-no-archive`` is never archived (the per-run opt-out).
"""

from metalab.workspace.folders.operations import (
    ArchiveResult,
    archive_run,
    copy_in,
    find_archived,
    move_to_folder,
    needs_archive,
    publish_copy,
    recover_run,
    restore_if_archived,
)
from metalab.workspace.folders.primitives import (
    NO_ARCHIVE_MARKER,
    TMP_PREFIX,
    FolderError,
    fsync_dir,
    is_tmp_name,
    remove_tree,
    tmp_path_for,
    tree_digest,
)
from metalab.workspace.folders.recovery import sweep_stale
from metalab.workspace.folders.worker import ArchiveProgress, DrainReport, FolderWorker

__all__ = [
    "ArchiveProgress",
    "ArchiveResult",
    "DrainReport",
    "FolderError",
    "FolderWorker",
    "NO_ARCHIVE_MARKER",
    "TMP_PREFIX",
    "archive_run",
    "copy_in",
    "find_archived",
    "fsync_dir",
    "is_tmp_name",
    "move_to_folder",
    "needs_archive",
    "publish_copy",
    "recover_run",
    "remove_tree",
    "restore_if_archived",
    "sweep_stale",
    "tmp_path_for",
    "tree_digest",
]
