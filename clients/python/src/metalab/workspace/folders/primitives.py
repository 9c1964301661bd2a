"""Crash-safe file primitives of the archive folders: temporary names, fsync, atomic exchange,
verified copies. Tests set `CHECKPOINT` (called at each step) and `EXCHANGE_ENABLED` here."""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import hashlib
import json
import logging
import os
import secrets
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from metalab.errors import MetalabError

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


def checkpoint(step: str) -> None:
    if CHECKPOINT is not None:
        CHECKPOINT(step)


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


def parse_tmp(name: str) -> _TmpName | None:
    if not name.startswith(TMP_PREFIX):
        return None
    parts = name[len(TMP_PREFIX) :].rsplit(".", 4)
    if len(parts) != 5 or parts[4] not in _TMP_KINDS or not parts[2].isdigit():
        return None
    return _TmpName(parts[0], parts[1], int(parts[2]), parts[4])


def is_tmp_name(name: str) -> bool:
    """True for the ``.tmp.*`` names archive operations create."""
    return parse_tmp(name) is not None


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


def exchange(a: Path, b: Path) -> bool:
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


def copy_tree(source: Path, destination: Path) -> None:
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


def verify(source: Path, copy: Path) -> None:
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


def discard(path: Path) -> None:
    try:
        remove_tree(path)
    except OSError as exc:
        log.debug("could not remove temporary %s (swept later): %s", path, exc)


def run_status(run_dir: Path) -> str | None:
    """``status`` from ``run.json``; None when there is no (readable) run.json."""
    try:
        data = json.loads((run_dir / "run.json").read_bytes())
    except (OSError, ValueError):
        return None
    status = data.get("status") if isinstance(data, dict) else None
    return status if isinstance(status, str) else None


def safe_rel(run_dir_rel: str | os.PathLike[str]) -> Path:
    rel = PurePosixPath(os.fspath(run_dir_rel))
    if rel.is_absolute() or not rel.parts or any(p in ("..", ".", "") for p in rel.parts):
        raise FolderError(f"not a relative run path: {os.fspath(run_dir_rel)!r}")
    return Path(*rel.parts)
