"""IndexBacklog: what a PostgresStore could not write to its index, kept beside the files.

Files are the truth; the index only accelerates. When an index write fails (the server died,
was restarted, or its job ended), the data is already in the files, and a marker in the
store directory's ``.index-pending/`` names what to redo: ``record-RUN``, ``derived-RUN`` or
``manifest-STAMP``. ``take`` claims a marker with an atomic rename, so catch-ups running at
once (several tasks, the services job, a reader) never redo one twice, and a writer that
fails again meanwhile leaves a new marker rather than losing its change to the claim.

Every index write is announced first: an *intent* (``.KIND-KEY.intent-ID``) is written before
the files and removed once the index has the write, or turned into a marker when it failed. A
writer killed between the two (a walltime, a preemption, ``kill -9``) leaves its intent: older
than ``STALE_INTENT`` seconds it counts as a marker, so the next catch-up redoes that write too.

``.down``'s modification time is the last failure: for ``QUIET`` seconds after it, writers go
straight to the backlog instead of waiting ``connect_timeout`` on a server that is not there.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PENDING_DIR = ".index-pending"
DOWN_FILE = ".down"
QUIET = 20.0
STALE_CLAIM = 300.0
STALE_INTENT = 60.0  # an index write takes milliseconds; connect_timeout is far shorter
INTENT = ".intent-"
PENDING_TTL = 1.0


@dataclass(frozen=True)
class Pending:
    """One index write to redo: ``kind`` (record, derived, manifest) of ``key`` in the store
    scoped to ``scope`` (None: the unscoped store at the file root)."""

    kind: str
    key: str
    scope: str | None
    claim: Path
    experiment_id: str = ""  # a manifest's experiment


class IndexBacklog:
    """The ``.index-pending`` directories of one store directory and of the ones under it."""

    def __init__(self, store_dir: Path, scope: str | None, *, nested: bool) -> None:
        self._dir = store_dir / PENDING_DIR
        self._scope = scope
        self._root = store_dir
        self._nested = nested  # unscoped: every experiment directory's backlog too
        self._checked: tuple[float, bool] | None = None  # (when, pending) of the last look

    def _dirs(self) -> list[Path]:
        dirs = [self._dir]
        if self._nested and self._root.is_dir():
            dirs += [d / PENDING_DIR for d in self._root.iterdir() if (d / PENDING_DIR).is_dir()]
        return dirs

    def add(self, kind: str, key: str, experiment_id: str = "") -> None:
        """Remember that ``kind`` ``key`` is not in the index (idempotent)."""
        self._checked = None
        self._dir.mkdir(exist_ok=True)
        path = self._dir / f"{kind}-{key}"
        tmp = self._dir / f".{kind}-{key}.{uuid.uuid4().hex[:8]}.tmp"
        data = {"kind": kind, "key": key, "scope": self._scope, "experiment_id": experiment_id}
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)

    def intend(self, kind: str, key: str, experiment_id: str = "") -> Path:
        """Announce an index write of ``kind`` ``key``, before its files are written; the
        intent, for `settle` or `defer`."""
        path = self._dir / f".{kind}-{key}{INTENT}{uuid.uuid4().hex[:8]}"
        data = {"kind": kind, "key": key, "scope": self._scope, "experiment_id": experiment_id}
        try:
            path.write_text(json.dumps(data))
        except FileNotFoundError:  # the first write here (or the directory was removed)
            self._dir.mkdir(exist_ok=True)
            path.write_text(json.dumps(data))
        return path

    @staticmethod
    def settle(intent: Path) -> None:
        """The index has the announced write (or nothing was written): forget the intent."""
        intent.unlink(missing_ok=True)

    def defer(self, intent: Path) -> None:
        """The index write failed: the intent becomes a marker for the catch-up."""
        self._checked = None
        marker = intent.name.lstrip(".").split(INTENT)[0]
        try:
            os.replace(intent, intent.with_name(marker))
        except FileNotFoundError:  # a catch-up took it over meanwhile and redoes it
            pass

    def mark_down(self) -> None:
        self._dir.mkdir(exist_ok=True)
        (self._dir / DOWN_FILE).touch()

    def recently_down(self) -> bool:
        """Whether an index write failed less than ``QUIET`` seconds ago."""
        try:
            return time.time() - (self._dir / DOWN_FILE).stat().st_mtime < QUIET
        except OSError:
            return False

    def clear_down(self) -> None:
        (self._dir / DOWN_FILE).unlink(missing_ok=True)

    def pending(self) -> bool:
        """Whether any marker (or claim) waits, here or under this directory (unscoped: the
        answer is kept ``PENDING_TTL`` seconds, as every read asks)."""
        now = time.monotonic()
        if self._nested and self._checked is not None and now - self._checked[0] < PENDING_TTL:
            return self._checked[1]
        found = False
        for directory in self._dirs():
            try:
                with os.scandir(directory) as entries:
                    if any(_waiting(directory, e.name, claims=True) for e in entries):
                        found = True
                        break
            except OSError:
                continue
        self._checked = (now, found)
        return found

    def count(self) -> int:
        """Markers waiting, stale intents included (claims in progress not counted)."""
        total = 0
        for directory in self._dirs():
            try:
                total += sum(1 for name in os.listdir(directory) if _waiting(directory, name))
            except OSError:
                continue
        return total

    def take(self) -> Iterator[Pending]:
        """Claim each marker in turn; a claim older than ``STALE_CLAIM`` (its catch-up died)
        is taken over."""
        self._checked = None
        for directory in self._dirs():
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            for name in names:
                path = directory / name
                if name.startswith(".") and not _waiting(directory, name, claims=False):
                    continue
                marker = name.lstrip(".").split(".claim-")[0].split(INTENT)[0]
                claim = directory / f".{marker}.claim-{uuid.uuid4().hex[:8]}"
                try:
                    os.rename(path, claim)
                    data = json.loads(claim.read_text())
                except FileNotFoundError:
                    continue  # another catch-up took it
                except (OSError, ValueError):
                    claim.unlink(missing_ok=True)
                    continue
                scope, experiment_id = data.get("scope"), str(data.get("experiment_id", ""))
                yield Pending(str(data["kind"]), str(data["key"]), scope, claim, experiment_id)

    @staticmethod
    def done(item: Pending) -> None:
        item.claim.unlink(missing_ok=True)

    @staticmethod
    def release(item: Pending) -> None:
        """Give an unfinished claim back as a marker."""
        name = item.claim.name.lstrip(".").split(".claim-")[0]
        try:
            os.replace(item.claim, item.claim.with_name(name))
        except OSError:
            pass


def _waiting(directory: Path, name: str, *, claims: bool = False) -> bool:
    """Whether entry ``name`` is a write to redo: a marker, an intent left behind (older than
    `STALE_INTENT`), a claim abandoned (older than `STALE_CLAIM`), or with ``claims`` any
    claim (a catch-up in progress: the index is behind meanwhile)."""
    if not name.startswith("."):
        return True
    if INTENT in name:
        return _older_than(directory / name, STALE_INTENT)
    if ".claim-" in name:
        return claims or _older_than(directory / name, STALE_CLAIM)
    return False


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False
