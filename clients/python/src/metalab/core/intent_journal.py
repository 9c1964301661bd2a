"""The index writes a process has under way, so that one killed mid-write is redone.

A PostgresStore writes the files first, then the index. A writer killed in between (a
walltime, a preemption, ``kill -9``, an out-of-memory kill) would leave a finished run
``running`` in the index. So each write is announced first, in one journal per process and
store directory, ``.index-pending/.journal-HOST-PID-RANDOM``: a line
``{"id": N, "kind": …, "key": …, "scope": …, "experiment_id": …}`` before the files. What the
index has since is said with the next line (``{"done": [N, …]}``); a writer killed before it
leaves that last write announced, and its redo is an upsert of what the files hold, harmless.

The journal is a shared memory map of the file (zero bytes after the last line): a line is a
copy into the page cache, which the kernel writes back even after the process is killed, and
no system call, so an announcement costs microseconds and never lets go of the GIL. Every
`TOUCH` seconds of writing the writer sets the file's modification time (a mapped write
updates it only when the kernel writes the page back).

A journal not touched for `STALE` seconds belongs to a writer that died or idles (an index
write takes milliseconds). A catch-up turns what it left under way into backlog markers and
appends ``{"redone": [N, …]}``; one with nothing left under way is removed. A writer that has
not touched its journal for `TOUCH` seconds checks that it still has a name, and starts a new
one when it has not.

Only the standard library: a warm `services status` counts what waits without importing the
store.
"""

from __future__ import annotations

import json
import mmap
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # logging is imported where it logs: a warm `status` reads journals
    import logging

JOURNAL = ".journal-"
STALE = 60.0  # seconds untouched: its writer is gone, or idle
TOUCH = 10.0  # a writer sets the modification time this often, and checks the file is named
SIZE = 64 * 1024  # bytes mapped at first; doubled when what is under way does not fit


def _log() -> logging.Logger:
    import logging

    return logging.getLogger("metalab.store")


def _ids(value: object) -> list[int]:
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [i for i in value if isinstance(i, int)]
    return []


def outstanding(data: bytes) -> list[dict[str, Any]]:
    """The writes a journal's ``data`` announces and nothing since settled or redid (a torn or
    foreign line is skipped)."""
    begun: dict[int, dict[str, Any]] = {}
    for line in data.rstrip(b"\0").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        for ident in _ids(entry.get("done")) + _ids(entry.get("redone")):
            begun.pop(ident, None)
        if (
            isinstance(entry.get("id"), int)
            and isinstance(entry.get("kind"), str)
            and isinstance(entry.get("key"), str)
        ):
            begun[entry["id"]] = entry
    return list(begun.values())


def is_journal(name: str) -> bool:
    return name.startswith(JOURNAL)


def left_behind(path: Path) -> list[dict[str, Any]]:
    """What the journal at ``path`` left under way, once it was not written for `STALE` s."""
    try:
        if time.time() - path.stat().st_mtime <= STALE:
            return []
        return outstanding(path.read_bytes())
    except OSError:
        return []


def mark_redone(path: Path, entries: list[dict[str, Any]]) -> None:
    """Say in the journal at ``path`` that ``entries`` are in the backlog now; a journal with
    nothing left under way is removed."""
    if not entries:
        path.unlink(missing_ok=True)
        return
    line = json.dumps({"redone": [e["id"] for e in entries]}).encode() + b"\n"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return  # removed meanwhile
    try:
        with mmap.mmap(fd, 0) as view:  # where the writer's map ends, after its last line
            end = view.find(b"\0")
            if end >= 0 and end + len(line) <= len(view):
                view[end : end + len(line)] = line
    except (OSError, ValueError):
        pass  # empty or gone: the markers are written, a redo is harmless
    finally:
        os.close(fd)


class IntentJournal:
    """This process's journal in ``directory`` (made on the first write); thread-safe, and a
    forked child starts its own."""

    def __init__(self, directory: Path, scope: str | None) -> None:
        self._dir = directory
        self._scope = scope
        self._lock = threading.Lock()
        self._pid = 0
        self._tag = ""
        self._fd = -1
        self._view: mmap.mmap | None = None
        self._end = 0  # where the next line goes
        self._touched = 0.0  # monotonic time the modification time was last set
        self._next = 0
        self._open: dict[int, bytes] = {}  # under way: id -> its line
        self._done: list[int] = []  # settled, not yet said in the file
        self._unusable = False

    def intend(self, kind: str, key: str, experiment_id: str = "") -> int:
        """Announce a write of ``kind`` ``key`` before its files; its id, for `settle`."""
        with self._lock:
            self._next += 1
            entry = {
                "id": self._next,
                "kind": kind,
                "key": key,
                "scope": self._scope,
                "experiment_id": experiment_id,
            }
            line = json.dumps(entry).encode() + b"\n"
            if self._unusable:
                return self._next
            try:
                view = self._journal()
            except (OSError, ValueError) as exc:  # a file system that cannot map files
                self._unusable = True
                self._release()
                _log().warning("index writes are not journaled in %s: %s", self._dir, exc)
                return self._next
            if self._done:
                line = json.dumps({"done": self._done}).encode() + b"\n" + line
                self._done = []
            if self._end < len(view) and view[self._end] != 0:  # a catch-up's line
                found = view.find(b"\0", self._end)
                self._end = len(view) if found < 0 else found
            if self._end + len(line) > len(view):
                view = self._compact(len(line))
            view[self._end : self._end + len(line)] = line
            self._end += len(line)
            self._open[self._next] = line
            return self._next

    def settle(self, ident: int) -> None:
        """The write ``ident`` is in the index, or in the backlog: no longer under way."""
        with self._lock:
            if self._open.pop(ident, None) is not None:
                self._done.append(ident)

    def close(self) -> None:
        """Close the journal; removed when nothing is under way."""
        with self._lock:
            if self._view is None or self._pid != os.getpid():
                return
            if self._open:
                if self._done and self._end + 64 * len(self._done) < len(self._view):
                    line = json.dumps({"done": self._done}).encode() + b"\n"
                    self._view[self._end : self._end + len(line)] = line
            elif os.fstat(self._fd).st_nlink:
                self._path().unlink(missing_ok=True)
            self._release()

    def _path(self) -> Path:
        return self._dir / f"{JOURNAL}{socket.gethostname()}-{self._pid}-{self._tag}"

    def _release(self) -> None:
        if self._view is not None:
            self._view.close()
        if self._fd >= 0:
            os.close(self._fd)
        self._view, self._fd, self._done = None, -1, []

    def _journal(self) -> mmap.mmap:
        pid = os.getpid()
        if self._pid != pid:  # new, or inherited through fork: the parent's is not ours
            self._release()  # this process's copies; the parent keeps its own
            self._open = {}
        elif self._view is not None and time.monotonic() - self._touched > TOUCH:
            if os.fstat(self._fd).st_nlink == 0:  # a catch-up took it for a dead writer's
                self._release()
            else:
                os.utime(self._fd)
                self._touched = time.monotonic()
        if self._view is None:
            self._pid, self._tag = pid, uuid.uuid4().hex[:8]
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            try:
                self._fd = os.open(self._path(), flags, 0o644)
            except FileNotFoundError:  # the first write in this directory
                self._dir.mkdir(exist_ok=True)
                self._fd = os.open(self._path(), flags, 0o644)
            self._touched = time.monotonic()
            self._map(SIZE)
        assert self._view is not None
        return self._view

    def _map(self, size: int) -> None:
        """Map a new file of ``size`` bytes (more if needed) with what is under way."""
        kept = b"".join(self._open.values())
        while len(kept) * 2 > size:
            size *= 2
        os.ftruncate(self._fd, size)  # zero bytes after the last line
        self._view = mmap.mmap(self._fd, size)
        self._view[: len(kept)] = kept
        self._end = len(kept)

    def _compact(self, room: int) -> mmap.mmap:
        """Start the map again with only what is under way (and ``room`` bytes more); killed
        meanwhile, the file holds at worst settled lines too (redone, harmlessly)."""
        assert self._view is not None
        kept = b"".join(self._open.values())
        size = len(self._view)
        while len(kept) + room > size // 2:
            size *= 2
        if size != len(self._view):
            self._view.close()
            os.ftruncate(self._fd, size)
            self._view = mmap.mmap(self._fd, size)
        self._view[: len(kept)] = kept
        if self._end > len(kept):
            self._view[len(kept) : self._end] = bytes(self._end - len(kept))
        self._end = len(kept)
        return self._view
