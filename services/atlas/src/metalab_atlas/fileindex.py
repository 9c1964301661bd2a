"""An incremental in-memory index of a FileStore directory (docs/store-format.md).

Per experiment it keeps ``run_id → (mtime_ns, size)`` of ``runs/{run_id}/run.json``; a refresh
lists ``runs/`` and stats each ``run.json``, parsing only new or changed files, and re-reads
``experiment.json`` when its mtime changes. Experiment directories in upstream metalab's layout
(`metalab_atlas.upstream`) are indexed the same way from ``runs/{run_id}.json`` and
``derived/{run_id}.json``, their overview from the newest manifest in ``experiments/``.
Requests read the index and never touch run files; a background thread keeps refreshing it
(`IndexRefresher`).
"""

from __future__ import annotations

import gc
import json
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metalab.core.whereabouts import checked
from metalab_atlas.evaluate import Row, column, search_text, value_of
from metalab_atlas.liveness import LOST, Liveness
from metalab_atlas.query import EXPERIMENT_ID, RUN_ID, Field, KnownFields
from metalab_atlas.upstream import META, essentials, latest_manifest

MAX_ERROR = 500
FULL_EVERY = 15
JOURNAL = 64  # versions whose changed run ids are remembered
SETTLE_NS = 2_000_000_000  # a directory mtime this old cannot hide a same-tick change
Stamp = tuple[int, ...]  # (mtime_ns, size), upstream runs: derived file's too
DONE = frozenset({"completed", "success"})  # never rerun (upstream's resume skips success)


@dataclass
class ExperimentIndex:
    experiment_id: str
    spec: dict[str, Any] = field(default_factory=dict)
    spec_stamp: Stamp | None = None
    upstream: bool = False
    derived_stamp: Stamp | None = None
    derived_inodes: dict[str, int] = field(default_factory=dict)
    stamps: dict[str, Stamp] = field(default_factory=dict)
    rows: dict[str, Row] = field(default_factory=dict)
    inodes: dict[str, int] = field(default_factory=dict)
    open: set[str] = field(default_factory=set)
    runs_stamp: Stamp | None = None
    fields: KnownFields = field(default_factory=KnownFields)
    last_activity: float = 0.0
    version: int = 0
    journal: list[tuple[int, frozenset[str]]] = field(default_factory=list)
    _by_id: tuple[int, list[Row]] = (-1, [])
    _positions: dict[str, int] = field(default_factory=dict)
    _columns: dict[Field, list[Any]] = field(default_factory=dict)

    def by_id(self) -> list[Row]:
        """The rows in run_id order, brought up to date once per version (call with the index
        lock): when runs only changed, their rows and values are replaced in place (copies),
        else everything is rebuilt, the columns in use included."""
        since, rows = self._by_id
        if since == self.version:
            return rows
        changed = self.changed_since(since)
        if changed is not None and all(r in self._positions and r in self.rows for r in changed):
            rows = list(rows)
            columns = {f: list(values) for f, values in self._columns.items()}
            for run_id in changed:
                at, row = self._positions[run_id], self.rows[run_id]
                rows[at] = row
                for f, values in columns.items():
                    values[at] = value_of(row, f)
            self._columns = columns
        else:
            rows = [self.rows[k] for k in sorted(self.rows)]
            self._positions = {row["run_id"]: at for at, row in enumerate(rows)}
            self._columns = {f: column(rows, f) for f in self._columns}
        self._by_id = (self.version, rows)
        return rows

    def column(self, f: Field) -> list[Any]:
        """Every row's value of ``f`` in run_id order (call with the index lock; shared: do
        not modify)."""
        rows = self.by_id()
        values = self._columns.get(f)
        if values is None:
            values = self._columns[f] = column(rows, f)
        return values

    def changed_since(self, since: int) -> frozenset[str] | None:
        """The run ids changed since version ``since``; None when no longer remembered."""
        newer = [ids for version, ids in self.journal if version > since]
        if len(newer) != self.version - since:
            return None
        return frozenset().union(*newer)


@dataclass(frozen=True)
class RefreshStats:
    experiments: int
    runs: int
    parsed: int
    seconds: float


def _stamp(path: str) -> Stamp | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _regular_stamp(path: str) -> Stamp | None:
    """The stamp of a regular file that is not a symlink."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size) if stat.S_ISREG(st.st_mode) else None


def _load(path: str) -> dict[str, Any] | None:
    """A record file; a symlink (which may point anywhere) or a non-file is no record.

    The last path component is never followed (a run's *directory* may be a symlink into an
    archive folder, its files not).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            data = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def to_row(data: dict[str, Any], run_id: str) -> Row | None:
    """The slim, query-ready row of a run.json (traceback left on disk)."""
    params, metrics = data.get("params"), data.get("metrics")
    if not isinstance(params, dict) or not isinstance(metrics, dict):
        return None
    error = data.get("error")
    row: Row = {
        "run_id": run_id,
        "status": str(data.get("status", "")),
        "attempt": data.get("attempt"),
        "seed": data.get("seed"),
        "host": data.get("host"),
        "error": error[:MAX_ERROR] if isinstance(error, str) else None,
        "created_at": data.get("created_at"),
        "started_at": data.get("started_at"),
        "finished_at": data.get("finished_at"),
        "duration_s": data.get("duration_s"),
        "params": params,
        "metrics": metrics,
    }
    row["_search"] = search_text(row)
    row["_executor"] = checked(data.get("executor"))
    return row


class FileIndex:
    """Thread-safe: `refresh` may run in a background thread while requests read."""

    def __init__(self, root: Path, liveness: Liveness | None = None) -> None:
        self.root = root
        self.liveness = liveness or Liveness()
        self._lock = threading.Lock()
        self._experiments: dict[str, ExperimentIndex] = {}
        self.ready = threading.Event()

    def refresh(self, full: bool = True) -> RefreshStats:
        """Bring the index up to date with the directory; returns what it did.

        Each experiment directory is read in its own layout: the project's
        (``experiment.json``) or upstream metalab's (``_meta.json``, see `upstream`).
        ``full=False`` skips the ``stat`` of completed runs whose directory (inode, from
        ``readdir``) is unchanged — completed runs are never rerun (docs/store-format.md) —
        and, while ``runs/`` itself is unchanged (and its mtime settled), even the listing:
        only unfinished runs are stat'ed. Upstream's run files are replaced by a rename, so
        there the inode of ``runs/{run_id}.json`` itself tells.
        """
        started = time.perf_counter()
        parsed = runs = 0
        try:
            names = sorted(
                e.name
                for e in os.scandir(self.root)
                if e.is_dir() and EXPERIMENT_ID.fullmatch(e.name) and e.name != "services"
            )
        except OSError:
            names = []
        seen = set()
        for name in names:
            base = os.path.join(self.root, name)
            if os.path.exists(os.path.join(base, "experiment.json")):
                upstream = False
            elif os.path.isfile(os.path.join(base, META)):
                upstream = True
            else:
                continue
            seen.add(name)
            done, count = self._refresh_experiment(name, base, full, upstream)
            parsed += done
            runs += count
        with self._lock:
            for gone in set(self._experiments) - seen:
                del self._experiments[gone]
        self.ready.set()
        return RefreshStats(len(seen), runs, parsed, time.perf_counter() - started)

    def _refresh_experiment(
        self, name: str, base: str, full: bool, upstream: bool = False
    ) -> tuple[int, int]:
        with self._lock:
            current = self._experiments.get(name)
        index = current or ExperimentIndex(name)
        if current is not None and index.upstream != upstream:
            # the directory changed layout: start afresh, past every version answered before
            index = ExperimentIndex(name, version=current.version + 1)
        index.upstream = upstream
        scan = _scan_upstream(index, base, full) if upstream else _scan_own(index, base, full)
        changed, inodes_seen, present = scan.changed, scan.inodes_seen, scan.present
        removed = set(index.stamps) - present
        parsed = len(changed)
        self._mark_lost(index, changed, inodes_seen, removed)
        with self._lock:
            if scan.listed:
                index.open = scan.still_open
            else:
                index.open = (index.open - set(scan.candidates)) | scan.still_open
            index.runs_stamp = scan.dir_stamp
            if scan.derived is not None:
                index.derived_stamp, index.derived_inodes = scan.derived
            if scan.new_spec is not None:
                index.spec, index.spec_stamp = scan.new_spec, scan.spec_stamp
            for run_id in removed:
                index.stamps.pop(run_id, None)
                index.rows.pop(run_id, None)
                index.inodes.pop(run_id, None)
            for run_id, (stamp, row) in changed.items():
                index.stamps[run_id] = stamp
                index.rows[run_id] = row
                index.inodes[run_id] = inodes_seen[run_id]
                index.fields.params.update(row["params"])
                index.fields.metrics.update(row["metrics"])
            spec_time = (scan.spec_stamp or (0,))[0]
            index.last_activity = max(scan.newest / 1e9, spec_time / 1e9)
            if changed or removed or scan.new_spec is not None:
                index.version += 1
                index.journal.append((index.version, frozenset(changed) | frozenset(removed)))
                del index.journal[:-JOURNAL]
            self._experiments[name] = index
            if index.version != index._by_id[0] and index._columns:
                index.by_id()  # here, in the refresh, rather than in the next request
        return parsed, len(present)

    def _mark_lost(
        self,
        index: ExperimentIndex,
        changed: dict[str, tuple[Stamp, Row]],
        inodes_seen: dict[str, int],
        removed: set[str],
    ) -> None:
        """Show running runs whose executor is gone as ``lost`` (and back, should it turn
        out alive): parsed rows are marked in place, unchanged ones join ``changed``."""
        with self._lock:
            known = [
                (run_id, row)
                for run_id in index.open
                if run_id not in changed
                and run_id not in removed
                and (row := index.rows.get(run_id)) is not None
                and row["status"] in ("running", LOST)
            ]
        fresh = [(r, row) for r, (_, row) in changed.items() if row["status"] == "running"]
        candidates = known + fresh
        if not candidates:
            return
        lost = self.liveness.lost((r, row["_executor"]) for r, row in candidates)
        for run_id, row in fresh:
            if run_id in lost:
                row["status"] = LOST
        for run_id, row in known:
            status = LOST if run_id in lost else "running"
            if row["status"] != status:
                changed[run_id] = (index.stamps[run_id], {**row, "status": status})
                inodes_seen[run_id] = index.inodes.get(run_id, 0)

    def experiments(self) -> list[ExperimentIndex]:
        with self._lock:
            return list(self._experiments.values())

    def experiment(self, experiment_id: str) -> ExperimentIndex | None:
        with self._lock:
            return self._experiments.get(experiment_id)

    def delta(self, experiment_id: str, since: int) -> Delta | None:
        """The change since version ``since``; None when it is no longer remembered."""
        with self._lock:
            index = self._experiments.get(experiment_id)
            if index is None:
                return None
            dirty = index.changed_since(since)
            if dirty is None:
                return None
            fresh = [index.rows[r] for r in dirty if r in index.rows]
            return Delta(index.version, dirty, fresh)

    def count(self, experiment_id: str) -> int:
        with self._lock:
            index = self._experiments.get(experiment_id)
            return len(index.rows) if index else 0

    def column(self, experiment_id: str, version: int, f: Field) -> list[Any] | None:
        """``f``'s values aligned with `rows` at ``version``; None if that is not current."""
        with self._lock:
            index = self._experiments.get(experiment_id)
            if index is None or index.version != version:
                return None
            return index.column(f)

    def forget_columns(self) -> None:
        """Drop every column of values (rebuilt when next asked for)."""
        with self._lock:
            for index in self._experiments.values():
                index._columns = {}

    def rows(self, experiment_id: str) -> tuple[int, list[Row]]:
        """(version, rows in run_id order); the list is shared: do not modify it."""
        with self._lock:
            index = self._experiments.get(experiment_id)
            return (index.version, index.by_id()) if index else (-1, [])


@dataclass(frozen=True)
class Delta:
    """What changed in an experiment since a version: run ids to drop and current rows."""

    version: int
    dirty: frozenset[str]
    fresh: list[Row]


@dataclass
class Scan:
    """What one pass over an experiment directory found, before the index takes it."""

    listed: bool  # runs/ was listed (else only `candidates` were looked at)
    dir_stamp: Stamp | None
    candidates: list[str]
    present: set[str]
    changed: dict[str, tuple[Stamp, Row]]
    inodes_seen: dict[str, int]
    still_open: set[str]
    newest: int
    new_spec: dict[str, Any] | None
    spec_stamp: Stamp | None
    derived: tuple[Stamp | None, dict[str, int]] | None = None


def _listing(stamp: Stamp | None, full: bool, known: Stamp | None) -> bool:
    """Whether a directory of this ``stamp`` must be listed: a full pass, or its mtime
    changed or is too recent to hide a same-tick change."""
    settled = stamp is not None and time.time_ns() - stamp[0] > SETTLE_NS
    return full or not settled or stamp != known


def _start(
    index: ExperimentIndex,
    listed: bool,
    dir_stamp: Stamp | None,
    candidates: list[tuple[str, int]],
    present: set[str],
    new_spec: dict[str, Any] | None,
    spec_stamp: Stamp | None,
) -> Scan:
    """A pass over ``candidates`` (``(run_id, inode)``) before any is looked at."""
    newest = int(index.last_activity * 1e9)
    ids = [c for c, _ in candidates]
    return Scan(listed, dir_stamp, ids, present, {}, {}, set(), newest, new_spec, spec_stamp)


def _settled(
    scan: Scan, index: ExperimentIndex, full: bool, run_id: str, inode: int, row: Row | None
) -> bool:
    """Whether a finished run's file is the one already read (same inode): present, unread."""
    if full or index.inodes.get(run_id) != inode or row is None or row["status"] not in DONE:
        return False
    scan.present.add(run_id)
    return True


def _note(scan: Scan, run_id: str, inode: int, stamp: Stamp, row: Row | None, fresh: bool) -> None:
    """A run whose file is there: its ``row`` (``fresh``: just read; None: unreadable)."""
    scan.present.add(run_id)
    scan.newest = max(scan.newest, stamp[0])
    if fresh and row is not None:
        scan.changed[run_id] = (stamp, row)
        scan.inodes_seen[run_id] = inode
    if row is None or row["status"] not in DONE:
        scan.still_open.add(run_id)


def _scan_own(index: ExperimentIndex, base: str, full: bool) -> Scan:
    """The project's layout: ``experiment.json`` and ``runs/{run_id}/run.json``."""
    spec_path = os.path.join(base, "experiment.json")
    spec_stamp = _stamp(spec_path)
    new_spec = _load(spec_path) if spec_stamp != index.spec_stamp else None
    runs_dir = os.path.join(base, "runs")
    dir_stamp = _stamp(runs_dir)
    listed = _listing(dir_stamp, full, index.runs_stamp)
    if listed:
        try:
            candidates = [(e.name, e.inode()) for e in os.scandir(runs_dir) if e.name[0] != "."]
        except OSError:
            candidates = []
        present: set[str] = set()
    else:  # no directory added or removed: only unfinished runs can have changed
        candidates = [(run_id, index.inodes.get(run_id, 0)) for run_id in index.open]
        present = set(index.stamps)
    scan = _start(index, listed, dir_stamp, candidates, present, new_spec, spec_stamp)
    for run_id, inode in candidates:
        row = index.rows.get(run_id)
        if _settled(scan, index, full, run_id, inode, row):
            continue
        path = os.path.join(runs_dir, run_id, "run.json")
        stamp = _stamp(path)
        if stamp is None:
            scan.present.discard(run_id)
            scan.still_open.add(run_id)
            continue
        fresh = index.stamps.get(run_id) != stamp
        if fresh:
            data = _load(path)
            row = to_row(data, run_id) if data is not None else None
        _note(scan, run_id, inode, stamp, row, fresh)
    return scan


def _json_files(directory: str) -> dict[str, int]:
    """``{run_id: inode}`` of the regular ``{run_id}.json`` files in ``directory`` (symlinks
    and other names, temporary files among them, left out)."""
    try:
        entries = os.scandir(directory)
    except OSError:
        return {}
    found: dict[str, int] = {}
    with entries:
        for e in entries:
            stem = e.name[:-5]
            if e.name.endswith(".json") and RUN_ID.fullmatch(stem) and not e.is_symlink():
                found[stem] = e.inode()
    return found


def _scan_upstream(index: ExperimentIndex, base: str, full: bool) -> Scan:
    """Upstream's layout: ``runs/{run_id}.json`` with ``derived/{run_id}.json`` (a run's
    stamp covers both), the overview from the newest ``experiments/*.json``."""
    found = latest_manifest(base)
    spec_path, spec_stamp = found if found else (None, None)
    new_spec = None
    if spec_stamp != index.spec_stamp:
        new_spec = (_load(spec_path) if spec_path else None) or {}
    runs_dir, derived_dir = os.path.join(base, "runs"), os.path.join(base, "derived")
    dir_stamp, derived_stamp = _stamp(runs_dir), _stamp(derived_dir)
    derived = index.derived_inodes
    derived_changed: set[str] = set()
    derived_listed = _listing(derived_stamp, full, index.derived_stamp)
    if derived_listed:
        derived = _json_files(derived_dir)
        old = index.derived_inodes
        derived_changed = {r for r in derived.keys() | old.keys() if derived.get(r) != old.get(r)}
    listed = _listing(dir_stamp, full, index.runs_stamp)
    if listed:
        candidates = list(_json_files(runs_dir).items())
        present: set[str] = set()
    else:  # no run file written or removed: only derived metrics can have changed
        wanted = index.open | (derived_changed & index.stamps.keys())
        candidates = [(run_id, index.inodes.get(run_id, 0)) for run_id in wanted]
        present = set(index.stamps)
    scan = _start(index, listed, dir_stamp, candidates, present, new_spec, spec_stamp)
    scan.derived = (derived_stamp, derived)
    for run_id, inode in candidates:
        row = index.rows.get(run_id)
        if run_id not in derived_changed and _settled(scan, index, full, run_id, inode, row):
            continue
        path = os.path.join(runs_dir, f"{run_id}.json")
        stamp = _regular_stamp(path)
        if stamp is None:
            scan.present.discard(run_id)
            continue
        derived_path = None
        if run_id in derived:
            derived_path = os.path.join(derived_dir, f"{run_id}.json")
            extra = _regular_stamp(derived_path)
            stamp = stamp if extra is None else (*stamp, *extra)
        fresh = index.stamps.get(run_id) != stamp
        if fresh:
            data = _load(path)
            more = _load(derived_path) if len(stamp) > 2 and derived_path else None
            record = essentials(data, run_id, more) if data is not None else None
            row = to_row(record, run_id) if record is not None else None
        _note(scan, run_id, inode, stamp, row, fresh)
    return scan


class IndexRefresher:
    """Refresh ``index`` in a daemon thread, pausing ``interval`` (at least 5x the last pass);
    every `FULL_EVERY` passes (and the first) stat every run. With ``freeze_gc`` (the Atlas
    process) what a pass parsed is moved out of the cyclic GC's reach (`gc.freeze`): the
    index's rows live on, and collections that scan them all stall requests."""

    def __init__(self, index: FileIndex, interval: float, freeze_gc: bool = False) -> None:
        self.index = index
        self.interval = interval
        self.freeze_gc = freeze_gc
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="atlas-index", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        passes = 0
        while not self._stop.is_set():
            stats = self.index.refresh(full=passes % FULL_EVERY == 0)
            if stats.parsed and self.freeze_gc:
                gc.freeze()
            passes += 1
            self._stop.wait(max(self.interval, 5 * stats.seconds))
