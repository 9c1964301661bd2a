"""Private directories for ssh control sockets, and the sweep of those a killed process left.

Each directory is named after the process that made it (``metalab-ssh-PID-…``). A process
killed with SIGKILL cannot remove its own; the next one to make a directory removes every
directory of ours whose process is gone and whose sockets no longer accept a connection (so a
directory still served by a live master, say from another PID namespace, stays).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

from metalab.core.process import pid_alive

PREFIX = "metalab-ssh-"
_NAME = re.compile(rf"{PREFIX}(\d+)-")
_swept: set[str] = set()


def make_workdir() -> str:
    """A new 0700 directory for control sockets; in /tmp when $TMPDIR is too long for a socket
    path (108 bytes, and ssh binds a name 17 bytes longer before renaming it)."""
    base = tempfile.gettempdir()
    if len(base) > 60:
        base = "/tmp"
    if base not in _swept:
        _swept.add(base)
        sweep(Path(base))
    return tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base)


def sweep(base: Path) -> list[Path]:
    """Remove the directories in ``base`` that killed processes left; returns them."""
    removed = []
    for entry in base.glob(f"{PREFIX}*"):
        match = _NAME.match(entry.name)
        if match is None or not _abandoned(entry, int(match.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _abandoned(entry: Path, pid: int) -> bool:
    try:
        info = entry.lstat()
    except OSError:
        return False
    if not entry.is_dir() or entry.is_symlink() or info.st_uid != os.getuid():
        return False
    if pid == os.getpid() or pid_alive(pid):
        return False
    return not any(_listening(path) for path in entry.iterdir() if path.is_socket())


def _listening(path: Path) -> bool:
    with contextlib.closing(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True
