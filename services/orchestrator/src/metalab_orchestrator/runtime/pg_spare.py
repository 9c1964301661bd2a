"""A spare data directory kept beside each PostgreSQL template: a cold start renames it into
place instead of copying the template on its critical path.

At most one spare per template and account, ``{key}.spare-{uid}`` in the template root. It is
built by a detached, niced child (``python -m metalab_orchestrator.runtime.pg_spare ROOT KEY
[ACCOUNT]``) under an exclusive ``flock`` on ``{key}.spare.lock``: copied into a staging
directory ``.{key}.spare-build-*``, made 0700 and owned by the account, flushed to disk, then
renamed, so a spare is complete or absent. Only the lock holder removes stale staging dirs.

A spare is taken only when ``lstat`` shows a real directory (no symlink) owned by the account,
mode exactly 0700, whose ``PG_VERSION`` (read without following symlinks) is the template's.
Anything else is left alone, or removed when it is the account's own. A failed rename (another
file system: ``EXDEV``; taken by another ``up``: ``ENOENT``) falls back to copying.
``METALAB_PG_SPARE=0`` turns spares off.
"""

from __future__ import annotations

import enum
import fcntl
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from metalab.core.errors import ProvisioningFailed

from .accounts import Account
from .pg_template import chown_tree, copy_template, make_dirs

log = logging.getLogger(__name__)

ENV = "METALAB_PG_SPARE"
REFILL_NICENESS = 19
NICE = "/usr/bin/nice"


class Verdict(enum.Enum):
    TAKE = "take"
    LEAVE = "leave"  # not ours: never touched
    REMOVE = "remove"  # ours but malformed


def spares_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False when ``METALAB_PG_SPARE=0``."""
    env = os.environ if environ is None else environ
    return env.get(ENV, "1").strip() != "0"


def spare_path(root: Path, key: str, uid: int) -> Path:
    return root / f"{key}.spare-{uid}"


def lock_path(root: Path, key: str) -> Path:
    return root / f"{key}.spare.lock"


def judge(st: os.stat_result, uid: int, version_matches: bool) -> Verdict:
    """Whether the spare with ``lstat`` result ``st`` may be taken by account ``uid``."""
    if st.st_uid != uid:
        return Verdict.LEAVE
    if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o700:
        return Verdict.REMOVE
    return Verdict.TAKE if version_matches else Verdict.REMOVE


def _read_version(path: Path, st: os.stat_result) -> str | None:
    """``path/PG_VERSION`` opened without following a symlink at either level, from the very
    directory ``st`` describes; None when it cannot be read so."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        dir_fd = os.open(path, flags | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        held = os.fstat(dir_fd)
        if (held.st_dev, held.st_ino) != (st.st_dev, st.st_ino):
            return None
        fd = os.open("PG_VERSION", flags, dir_fd=dir_fd)
        try:
            return os.read(fd, 64).decode("ascii", errors="replace").strip()
        finally:
            os.close(fd)
    except OSError:
        return None
    finally:
        os.close(dir_fd)


def _discard(path: Path, st: os.stat_result) -> None:
    try:
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)  # fd-based: never follows a symlink out of the tree
        else:
            path.unlink()
    except OSError as exc:
        log.debug("cannot remove malformed spare %s: %s", path, exc)


def take_spare(
    spare: Path,
    data_dir: Path,
    *,
    uid: int,
    version: str,
    rename: Callable[[Path, Path], None] = os.rename,
) -> bool:
    """Rename ``spare`` to ``data_dir`` (absent or empty) when it passes `judge`.

    False, with ``spare`` untouched or removed, when it is missing, malformed, foreign, or
    cannot be renamed (another file system, taken meanwhile): the caller copies instead."""
    try:
        st = os.lstat(spare)
    except OSError:
        return False
    found = _read_version(spare, st) if stat.S_ISDIR(st.st_mode) else None
    verdict = judge(st, uid, found == version)
    if verdict is not Verdict.TAKE:
        log.info("PostgreSQL spare %s not taken (%s)", spare, verdict.value)
        if verdict is Verdict.REMOVE:
            _discard(spare, st)
        return False
    try:
        if data_dir.is_dir() and not data_dir.is_symlink() and not any(data_dir.iterdir()):
            data_dir.rmdir()
        rename(spare, data_dir)
    except OSError as exc:
        log.debug("PostgreSQL spare %s not taken: %s", spare, exc)
        return False
    taken = os.lstat(data_dir)
    if (taken.st_dev, taken.st_ino) != (st.st_dev, st.st_ino):
        raise ProvisioningFailed(f"the PostgreSQL spare {spare} was replaced while taken")
    return True


def make_data_dir(template: Path, data_dir: Path, account: Account | None) -> bool:
    """Create ``data_dir`` from the spare, else by copying ``template``.

    Returns whether a refill should follow (spares are on and none is ready)."""
    if not spares_enabled():
        copy_template(template, data_dir, account)
        return False
    uid = os.geteuid() if account is None else account.uid
    spare = spare_path(template.parent, template.name, uid)
    version = (template / "PG_VERSION").read_text().strip()
    make_dirs(data_dir.parent)
    if not take_spare(spare, data_dir, uid=uid, version=version):
        copy_template(template, data_dir, account)
    return not os.path.lexists(spare)


def start_refill(template: Path, account: Account | None) -> None:
    """Build the next spare in a detached child; a daemon thread reaps it (no zombie in a
    long-running server, no wait at a CLI's exit)."""
    argv = [sys.executable, "-P", "-m", __name__, str(template.parent), template.name]
    argv += [account.name] if account is not None else []
    if os.path.exists(NICE):  # niced from exec, the interpreter's start included
        argv = [NICE, "-n", str(REFILL_NICENESS), *argv]
    try:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,
        )
    except OSError as exc:
        log.debug("cannot start the PostgreSQL spare refill: %s", exc)
        return
    threading.Thread(target=child.wait, name="pg-spare-reaper", daemon=True).start()


def _fsync_path(path: str, directory: bool) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_DIRECTORY * directory))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_tree(root: Path) -> None:
    """Flush every file and directory below ``root`` (a spare may wait across a crash)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                _fsync_path(path, directory=False)
        _fsync_path(dirpath, directory=True)


def build_spare(root: Path, key: str, account: Account | None) -> bool:
    """Build the spare for template ``root/key`` unless another builder holds the lock or a
    spare exists; True when one was built."""
    template = root / key
    final = spare_path(root, key, os.geteuid() if account is None else account.uid)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    lock_fd = os.open(lock_path(root, key), flags, 0o600)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another builder is at work
        for stale in root.glob(f".{key}.spare-build-*"):  # left by a builder that died
            shutil.rmtree(stale, ignore_errors=True)
        if os.path.lexists(final) or not (template / "PG_VERSION").is_file():
            return False
        staging = Path(tempfile.mkdtemp(prefix=f".{key}.spare-build-", dir=root))
        try:
            shutil.copytree(template, staging, symlinks=True, dirs_exist_ok=True)
            os.chmod(staging, 0o700)
            if account is not None:
                chown_tree(staging, account)
            _sync_tree(staging)
            os.rename(staging, final)
            _fsync_path(str(root), directory=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return True
    finally:
        os.close(lock_fd)  # releases the lock


def main(argv: list[str]) -> int:
    """``ROOT KEY [ACCOUNT]``: build one spare at the lowest CPU priority."""
    os.nice(REFILL_NICENESS - os.nice(0))
    root, key = Path(argv[0]), argv[1]
    account = Account.named(argv[2]) if len(argv) > 2 and argv[2] else None
    build_spare(root, key, account)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
