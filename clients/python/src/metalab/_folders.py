"""Auxiliary folders of a workspace: archive finished runs, restore them, never lose one.

The primitives (`publish_copy`, `move_to_folder`, `copy_in`, `sweep_stale`) work on any file or
directory; `metalab._archive` applies them to the runs of upstream-layout stores. The functions
named after runs here (`archive_run`, `find_archived`, `restore_if_archived`, `recover_run`)
handle the project's earlier layout, where a folder mirrors the workspace: the run
``{workspace}/{experiment}/runs/{run}`` lives at ``{folder}/{experiment}/runs/{run}``.
Modes: ``backup`` (copy after success), ``move`` (copy, then replace the workspace path by a
symlink to the copy), ``use`` (read-only lookups).

Every change is crash-safe, at every step (tests kill a process at each `_checkpoint`):

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

from __future__ import annotations

import ctypes
import errno
import fnmatch
import hashlib
import json
import logging
import os
import queue
import secrets
import shutil
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from metalab._settings import Folder, Workspace
from metalab.core.process import pid_alive
from metalab.errors import MetalabError

__all__ = [
    "ArchiveProgress",
    "ArchiveResult",
    "DrainReport",
    "FolderError",
    "FolderWorker",
    "NO_ARCHIVE_MARKER",
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
]

log = logging.getLogger("metalab.folders")

EXCLUDED_FILES = ("*.lock", "*.pid")
EXCLUDED_DIRS = (".scheduler", ".metalab")
NO_ARCHIVE_MARKER = ".metalab-no-archive"
TMP_PREFIX = ".tmp."
_TMP_KINDS = ("stage", "old", "link", "aside")
_CHUNK = 1 << 20

# Test hook: called with the name of each step; a crash test installs one that calls os._exit.
CHECKPOINT: Callable[[str], None] | None = None


class FolderError(MetalabError):
    """An archive copy, move or restore could not be done (nothing was lost)."""


def _checkpoint(step: str) -> None:
    if CHECKPOINT is not None:
        CHECKPOINT(step)


# --- primitives ---------------------------------------------------------------------------


def tmp_path_for(target: Path, kind: str) -> Path:
    host = socket.gethostname().replace(".", "_")
    return target.parent / (
        f"{TMP_PREFIX}{target.name}.{host}.{os.getpid()}.{secrets.token_hex(4)}.{kind}"
    )


@dataclass(frozen=True)
class _TmpName:
    base: str
    host: str
    pid: int
    kind: str


def _parse_tmp(name: str) -> _TmpName | None:
    if not name.startswith(TMP_PREFIX):
        return None
    parts = name[len(TMP_PREFIX) :].rsplit(".", 4)
    if len(parts) != 5 or parts[4] not in _TMP_KINDS or not parts[2].isdigit():
        return None
    return _TmpName(parts[0], parts[1], int(parts[2]), parts[4])


def is_tmp_name(name: str) -> bool:
    """True for the ``.tmp.*`` names archive operations create."""
    return _parse_tmp(name) is not None


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    function = getattr(libc, "renameat2", None)
    if function is None:
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_RENAMEAT2 = _renameat2()
EXCHANGE_ENABLED = True  # tests switch it off to exercise the two-rename fallback


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths; False when the system or filesystem cannot."""
    if _RENAMEAT2 is None or not EXCHANGE_ENABLED:
        return False
    rc = _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _skip(directory: str, name: str) -> bool:
    """Left out of archive copies: locks, pid files, scheduler dirs, sockets and fifos."""
    path = os.path.join(directory, name)
    if os.path.islink(path):
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in EXCLUDED_FILES)
    if os.path.isdir(path):
        return name in EXCLUDED_DIRS
    if not os.path.isfile(path):
        return True  # sockets, fifos, devices: never copied (a fifo would block the copy)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in EXCLUDED_FILES)


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {name for name in names if _skip(directory, name)}


def _file_digest(path: Path) -> tuple[str, int, str]:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return ("file", path.stat().st_size, digest.hexdigest())


def tree_digest(root: Path) -> dict[str, tuple[str, int, str]]:
    """``relative path → (kind, size, sha256 or link target)`` of what an archive copy holds.

    A regular file is its own tree: ``{"": ("file", size, sha256)}``.
    """
    out: dict[str, tuple[str, int, str]] = {}
    if root.is_file() and not root.is_symlink():
        return {"": _file_digest(root)}
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory)
        descend = []
        for name in sorted([*dirnames, *filenames]):
            if _skip(directory, name):
                continue
            path = base / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = ("link", 0, os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir", 0, "")
                descend.append(name)
            else:
                out[rel] = _file_digest(path)
        dirnames[:] = [d for d in dirnames if d in descend]
    return out


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_tree(source: Path, destination: Path) -> None:
    """Copy a directory (or a single file) and fsync what was written."""
    if source.is_file() and not source.is_symlink():
        shutil.copy2(source, destination)
        _fsync_file(str(destination))
        fsync_dir(destination.parent)
        return
    shutil.copytree(source, destination, symlinks=True, ignore=_ignore)
    for directory, _dirs, files in os.walk(destination):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                _fsync_file(path)
        fsync_dir(Path(directory))


def _verify(source: Path, copy: Path) -> None:
    expected, got = tree_digest(source), tree_digest(copy)
    if expected != got:
        differing = sorted(set(expected.items()) ^ set(got.items()))
        first = differing[0][0] if differing else "?"
        raise FolderError(f"copy of {source} in {copy} does not match the source (first: {first})")


def remove_tree(path: Path) -> None:
    """Delete a directory we own; a symlink is unlinked, never followed."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _discard(path: Path) -> None:
    try:
        remove_tree(path)
    except OSError as exc:
        log.debug("could not remove temporary %s (swept later): %s", path, exc)


def _run_status(run_dir: Path) -> str | None:
    """``status`` from ``run.json``; None when there is no (readable) run.json."""
    try:
        data = json.loads((run_dir / "run.json").read_bytes())
    except (OSError, ValueError):
        return None
    status = data.get("status") if isinstance(data, dict) else None
    return status if isinstance(status, str) else None


def _safe_rel(run_dir_rel: str | os.PathLike[str]) -> Path:
    rel = PurePosixPath(os.fspath(run_dir_rel))
    if rel.is_absolute() or not rel.parts or any(p in ("..", ".", "") for p in rel.parts):
        raise FolderError(f"not a relative run path: {os.fspath(run_dir_rel)!r}")
    return Path(*rel.parts)


# --- crash recovery ------------------------------------------------------------------------


def sweep_stale(directory: Path, *, any_owner: bool = False) -> list[Path]:
    """Finish or undo operations of dead processes in ``directory``; returns what was removed.

    A set-aside directory (``old``, ``aside``, or a ``link`` name holding a directory after an
    exchange) whose original name is missing is put back; otherwise it is deleted, as are
    stages and dangling temporary symlinks. Live owners' entries are left alone.
    """
    removed: list[Path] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return removed
    host = socket.gethostname().replace(".", "_")
    for entry in entries:
        parsed = _parse_tmp(entry.name)
        if parsed is None:
            continue
        if not any_owner and (parsed.host != host or pid_alive(parsed.pid)):
            continue
        path = Path(entry.path)
        original = directory / parsed.base
        if path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path)
        elif parsed.kind != "stage" and not original.exists() and not original.is_symlink():
            os.rename(path, original)
            fsync_dir(directory)
            log.warning("restored %s after an interrupted archive operation", original)
        else:
            remove_tree(path)
            removed.append(path)
    return removed


# --- operations ----------------------------------------------------------------------------


def publish_copy(source: Path, destination: Path) -> None:
    """Make ``destination`` a verified copy of ``source`` (replacing any older copy)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(destination.parent)
    if (destination.is_dir() or destination.is_file()) and not destination.is_symlink():
        if tree_digest(destination) == tree_digest(source):
            return
    stage = tmp_path_for(destination, "stage")
    try:
        _copy_tree(source, stage)
        _checkpoint("copied")
        _verify(source, stage)
        _checkpoint("verified")
        if destination.exists() or destination.is_symlink():
            if _exchange(stage, destination):
                fsync_dir(destination.parent)
                _checkpoint("replaced")
            else:
                old = tmp_path_for(destination, "old")
                os.rename(destination, old)
                try:
                    _checkpoint("set-aside")
                    os.rename(stage, destination)
                except BaseException:
                    if not destination.exists() and not destination.is_symlink():
                        os.rename(old, destination)
                    raise
                fsync_dir(destination.parent)
                _checkpoint("replaced")
                stage = old
            remove_tree(stage)
        else:
            os.rename(stage, destination)
            fsync_dir(destination.parent)
            _checkpoint("published")
    except BaseException:
        if stage.exists() and _parse_tmp(stage.name) and stage.name.endswith(".stage"):
            _discard(stage)
        raise


def move_to_folder(source: Path, destination: Path) -> None:
    """Copy → verify → swap ``source`` for a symlink to ``destination``."""
    publish_copy(source, destination)
    _verify(source, destination)
    _checkpoint("destination-verified")
    link = tmp_path_for(source, "link")
    os.symlink(destination, link)
    _checkpoint("link-created")
    try:
        if _exchange(link, source):
            fsync_dir(source.parent)
            _checkpoint("swapped")
            old = link
        else:
            old = tmp_path_for(source, "aside")
            os.rename(source, old)
            try:
                _checkpoint("set-aside")
                os.rename(link, source)
            except BaseException:
                if not source.exists() and not source.is_symlink():
                    os.rename(old, source)
                raise
            fsync_dir(source.parent)
            _checkpoint("swapped")
    except BaseException:
        if link.is_symlink():
            link.unlink()
        raise
    remove_tree(old)
    _checkpoint("done")


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
    status = _run_status(run_dir)
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
    rel = _safe_rel(run_dir_rel)
    wanted = set(modes)
    for folder in workspace.folders:
        if folder.mode not in wanted:
            continue
        candidate = folder.path / rel
        if candidate.is_dir() and _run_status(candidate) == "completed":
            return folder, candidate
    return None


def copy_in(source: Path, target: Path) -> None:
    """Make ``target`` a verified copy of ``source`` (staged, then renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = tmp_path_for(target, "stage")
    try:
        _copy_tree(source, stage)
        _checkpoint("restore-copied")
        _verify(source, stage)
        if target.is_symlink():  # a dangling link (its archive is gone or unmounted)
            target.unlink()
        os.rename(stage, target)
        fsync_dir(target.parent)
        _checkpoint("restored")
    except BaseException:
        if stage.exists():
            _discard(stage)
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
    rel = _safe_rel(run_dir_rel)
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
    rel = _safe_rel(run_dir_rel)
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


# --- the background worker ----------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveProgress:
    done: int
    total: int
    current: Path | None


@dataclass
class DrainReport:
    results: list[ArchiveResult] = field(default_factory=list)
    pending: int = 0

    @property
    def failures(self) -> list[ArchiveResult]:
        return [r for r in self.results if not r.ok]


class FolderWorker:
    """Archives finished runs on one background thread; `submit` never blocks.

    ::

        worker = FolderWorker(workspace, enabled=backup)
        worker.start()
        ...  worker.submit(run_dir)   # after each successful run
        report = worker.drain(progress)   # before metalab.run returns

    ``archive`` archives one queued item (default `archive_run`, for a run directory).
    Inactive (every call a no-op) without a workspace, for remote workspaces, with
    ``enabled=False``, or when the workspace has no ``backup``/``move`` folder.
    """

    def __init__(
        self,
        workspace: Workspace | None,
        *,
        enabled: bool = True,
        archive: Callable[[Path, Workspace], list[ArchiveResult]] | None = None,
    ) -> None:
        self.workspace = workspace
        self._archive = archive or archive_run
        self.active = bool(
            enabled
            and workspace is not None
            and not workspace.is_remote
            and workspace.folders_with("backup", "move")
        )
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._submitted = 0
        self._done = 0
        self._current: Path | None = None
        self._results: list[ArchiveResult] = []
        self._unexpected: BaseException | None = None

    def start(self) -> None:
        if not self.active or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._loop, name="metalab-folders", daemon=True)
        self._thread.start()

    def submit(self, run_dir: Path, *, archive: bool = True) -> None:
        """Queue a successfully completed run directory (``archive=False``: per-run opt-out)."""
        if not self.active or not archive:
            return
        self.start()
        with self._lock:
            self._submitted += 1
        self._queue.put(run_dir)

    def _loop(self) -> None:
        assert self.workspace is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            with self._lock:
                self._current = item
                self._lock.notify_all()
            try:
                results = self._archive(item, self.workspace)
            except Exception as exc:
                log.exception("archive worker error on %s", item)
                results = []
                with self._lock:
                    self._unexpected = self._unexpected or exc
            with self._lock:
                self._results.extend(results)
                self._done += 1
                self._current = None
                self._lock.notify_all()

    def drain(
        self,
        progress: Callable[[ArchiveProgress], None] | None = None,
        timeout: float | None = None,
    ) -> DrainReport:
        """Wait for every submitted run, reporting progress; stops the thread when done."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        last: tuple[int, Path | None] | None = None
        with self._lock:
            while True:
                state = (self._done, self._current)
                if progress is not None and state != last and self._submitted:
                    progress(ArchiveProgress(self._done, self._submitted, self._current))
                last = state
                if self._done >= self._submitted:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._lock.wait(remaining if remaining is not None else 1.0)
            report = DrainReport(list(self._results), self._submitted - self._done)
            unexpected = self._unexpected
        if report.pending == 0 and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        elif report.pending:
            log.warning("%d archive operation(s) still running in the background", report.pending)
        if unexpected is not None:
            raise unexpected
        return report

    def __enter__(self) -> FolderWorker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.drain()
