"""A cache of values derived from small files: a Get costs a ``stat``, or a read, never a parse.

An unchanged ``stat`` vouches for the file's content, except for a file modified very
recently (see ``RACY_SECONDS``); then, and whenever the ``stat`` changed, the file's bytes are
read and compared with the bytes the cached value came from: equal bytes reuse the value, so a
bundle rewritten again and again (group commits, an ``up`` saving its progress) is parsed
once per distinct content.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

Value = TypeVar("Value")

# A file modified this recently may be rewritten within the same timestamp tick with the same
# inode and size (inodes are reused after an atomic rename), so its stat cannot vouch for its
# content yet: its bytes are compared until it is older than this (git's "racily clean" rule).
RACY_SECONDS = 0.05

StatKey = tuple[int, int, int, int]


def _stat_key(path: Path) -> tuple[StatKey, float] | None:
    try:
        stat = os.lstat(path)  # a file swapped for a symlink is a change
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns), stat.st_mtime


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class _Entry(Generic[Value]):
    __slots__ = ("key", "raw", "value")

    def __init__(self, key: StatKey | None, raw: bytes, value: Value) -> None:
        self.key = key  # None: the stat does not vouch (yet); compare the bytes
        self.raw = raw
        self.value = value


class StatCache(Generic[Value]):
    """Values parsed from files, recomputed only when the file's content changes."""

    def __init__(self, read: Callable[[Path], bytes | None] = _read) -> None:
        """``read`` returns a file's bytes (None when absent); it may refuse by raising."""
        self._entries: dict[Path, _Entry[Value]] = {}
        self._read = read

    def get(self, path: Path, parse: Callable[[bytes], Value]) -> Value | None:
        """The value of ``path`` (None when it does not exist); ``parse`` maps bytes to it."""
        seen = _stat_key(path)
        if seen is None:
            self._entries.pop(path, None)
            return None
        key, mtime = seen
        entry = self._entries.get(path)
        if entry is not None and entry.key == key:
            return entry.value
        raw = self._read(path)
        if raw is None:
            self._entries.pop(path, None)
            return None
        vouched = key if time.time() - mtime > RACY_SECONDS and _stat_key(path) == seen else None
        if entry is not None and entry.raw == raw:
            entry.key = vouched
            return entry.value
        value = parse(raw)
        self._entries[path] = _Entry(vouched, raw, value)
        return value

    def forget(self, path: Path) -> None:
        self._entries.pop(path, None)
