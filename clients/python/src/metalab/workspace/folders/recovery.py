"""Crash recovery: finish or undo the archive operations of dead processes."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from metalab.core.process import pid_alive
from metalab.workspace.folders.primitives import fsync_dir, parse_tmp, remove_tree

log = logging.getLogger("metalab.folders")


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
        parsed = parse_tmp(entry.name)
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
