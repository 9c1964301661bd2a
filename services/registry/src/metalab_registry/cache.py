"""A stat-validated cache of bundle messages, so a Get costs one ``stat`` instead of a parse."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

Value = TypeVar("Value")

# A file modified this recently may be rewritten within the same timestamp tick with the same
# inode and size (inodes are reused after an atomic rename), so its stat cannot vouch for its
# content yet: it is re-read until it is older than this (git's "racily clean" rule).
RACY_SECONDS = 0.05

StatKey = tuple[int, int, int, int]


def _stat_key(path: Path) -> tuple[StatKey, float] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns), stat.st_mtime


class StatCache(Generic[Value]):
    """Values derived from files, recomputed only when the file's stat changes."""

    def __init__(self) -> None:
        self._entries: dict[Path, tuple[StatKey, Value]] = {}

    def get(self, path: Path, load: Callable[[], Value | None]) -> Value | None:
        """The value for ``path``: cached when the file is unchanged, else ``load()``."""
        seen = _stat_key(path)
        if seen is None:
            self._entries.pop(path, None)
            return load()
        key, mtime = seen
        cached = self._entries.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        value = load()
        if value is not None and time.time() - mtime > RACY_SECONDS and _stat_key(path) == seen:
            self._entries[path] = (key, value)
        else:
            self._entries.pop(path, None)
        return value

    def forget(self, path: Path) -> None:
        self._entries.pop(path, None)
