"""IndexBacklog: what a PostgresStore could not write to its index, kept beside the files.

Files are the truth; the index only accelerates. When an index write fails (the server died,
was restarted, or its job ended), the data is already in the files, and a marker in the
store directory's ``.index-pending/`` names what to redo: ``record-RUN``, ``derived-RUN`` or
``manifest-STAMP``. ``take`` claims a marker with an atomic rename, so catch-ups running at
once (several tasks, the services job, a reader) never redo one twice, and a writer that
fails again meanwhile leaves a new marker rather than losing its change to the claim.

Every write is announced before its files in this process's `IntentJournal` and settled once
the index (or the backlog) has it; what a writer killed in between left under way becomes
markers at the next catch-up (`metalab.core.intent_journal`).

``.down``'s modification time is the last failure: for ``QUIET`` seconds after it, writers go
straight to the backlog instead of waiting ``connect_timeout`` on a server that is not there.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from metalab.core.intent_journal import (
    JOURNAL,
    STALE,
    IntentJournal,
    is_journal,
    left_behind,
    mark_redone,
)

PENDING_DIR = ".index-pending"
DOWN_FILE = ".down"
QUIET = 20.0
STALE_CLAIM = 300.0
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
        self._journal = IntentJournal(self._dir, scope)

    def _dirs(self) -> list[Path]:
        dirs = [self._dir]
        if self._nested and self._root.is_dir():
            dirs += [d / PENDING_DIR for d in self._root.iterdir() if (d / PENDING_DIR).is_dir()]
        return dirs

    def add(self, kind: str, key: str, experiment_id: str = "") -> None:
        """Remember that ``kind`` ``key`` is not in the index (idempotent)."""
        self._checked = None
        self._dir.mkdir(exist_ok=True)
        data = {"kind": kind, "key": key, "scope": self._scope, "experiment_id": experiment_id}
        _write_marker(self._dir, data)

    def intend(self, kind: str, key: str, experiment_id: str = "") -> int:
        """Announce a write of ``kind`` ``key`` before its files (`IntentJournal.intend`)."""
        return self._journal.intend(kind, key, experiment_id)

    def settle(self, ident: int) -> None:
        """The announced write is in the index or in this backlog."""
        self._journal.settle(ident)

    def close(self) -> None:
        self._journal.close()

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
        answer is kept ``PENDING_TTL`` seconds, as every read asks). Journals are not read
        here, as that costs a ``stat`` each on every read: what a writer that died left under
        way is found by `count`, `take` and the services' catch-up."""
        now = time.monotonic()
        if self._nested and self._checked is not None and now - self._checked[0] < PENDING_TTL:
            return self._checked[1]
        found = False
        for directory in self._dirs():
            try:
                with os.scandir(directory) as entries:
                    if any(not e.name.startswith(".") or ".claim-" in e.name for e in entries):
                        found = True
                        break
            except OSError:
                continue
        self._checked = (now, found)
        return found

    def count(self) -> int:
        """Markers waiting, with what writers that died left under way (claims in progress
        not counted)."""
        total = 0
        for directory in self._dirs():
            try:
                total += sum(_count(directory, name) for name in os.listdir(directory))
            except OSError:
                continue
        return total

    def take(self) -> Iterator[Pending]:
        """Claim each marker in turn; a claim older than ``STALE_CLAIM`` (its catch-up died)
        is taken over."""
        self._checked = None
        for directory in self._dirs():
            _journals_to_markers(directory)
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            for name in names:
                path = directory / name
                if name.startswith(JOURNAL):
                    continue
                if name.startswith("."):
                    if ".claim-" not in name or not _older_than(path, STALE_CLAIM):
                        continue
                marker = name.lstrip(".").split(".claim-")[0]
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


def _write_marker(directory: Path, data: Mapping[str, object]) -> None:
    name = f"{data['kind']}-{data['key']}"
    tmp = directory / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, directory / name)


def _journals_to_markers(directory: Path) -> None:
    """Turn what writers that died left under way in their journals in ``directory`` into
    markers (`metalab.core.intent_journal`)."""
    try:
        names = [name for name in os.listdir(directory) if is_journal(name)]
    except OSError:
        return
    for name in names:
        path = directory / name
        try:
            stale = time.time() - path.stat().st_mtime > STALE
        except OSError:
            continue
        if not stale:
            continue
        entries = left_behind(path)
        for entry in entries:
            fields = {"kind": entry["kind"], "key": entry["key"]}
            scope = entry.get("scope")
            fields["scope"] = scope if isinstance(scope, str) else None
            fields["experiment_id"] = str(entry.get("experiment_id") or "")
            _write_marker(directory, fields)
        mark_redone(path, entries)


def _count(directory: Path, name: str) -> int:
    if is_journal(name):
        return len(left_behind(directory / name))
    return 0 if name.startswith(".") else 1


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False
