"""Where Atlas reads runs from: a FileStore directory (through `FileIndex`) or a PostgresStore.

Both sources answer the same questions with the same shapes; run files (logs, artifacts,
tracebacks) are always read from the store's file root through `StoreFiles`, in the layout
of each experiment directory (the project's or upstream metalab's).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from metalab_atlas import evaluate
from metalab_atlas.evaluate import Ordering, Row, text_of
from metalab_atlas.fileindex import ExperimentIndex, FileIndex, IndexRefresher
from metalab_atlas.histogram import is_number
from metalab_atlas.liveness import LOST
from metalab_atlas.query import Field, KnownFields, NotFound, RunQuery
from metalab_atlas.storefiles import StoreFiles
from metalab_atlas.upstream import operation_ref, safe_experiment_id

# answers kept per index version; orderings of every run are among them (8 bytes a run)
FILE_CACHE_SIZE = 128
FINISHED = ("completed", "success", "failed", "cancelled")  # success: upstream's completed
T = TypeVar("T")


class RunSource(Protocol):
    kind: str
    files: StoreFiles

    def start(self) -> None: ...
    def close(self) -> None: ...
    def check(self) -> tuple[bool, str]: ...
    def resolve(self, experiment_id: str) -> str: ...
    def experiments(self) -> list[dict[str, Any]]: ...
    def experiment(self, experiment_id: str) -> dict[str, Any]: ...
    def fields(self, experiment_id: str, wanted: Sequence[str] = ()) -> KnownFields: ...
    def runs(self, experiment_id: str, query: RunQuery) -> tuple[int, list[dict[str, Any]]]: ...
    def run(self, experiment_id: str, run_id: str) -> dict[str, Any]: ...
    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]: ...
    def step_curves(
        self, experiment_id: str, run_ids: list[str], name: str
    ) -> dict[str, list[list[Any]]]: ...
    def step_names(self, experiment_id: str, run_ids: list[str]) -> list[str]: ...
    def plot(
        self, experiment_id: str, query: RunQuery, x: Field, y: Field, group: Field | None
    ) -> list[dict[str, Any]]: ...
    def values(
        self, experiment_id: str, query: RunQuery, f: Field, group: Field | None
    ) -> tuple[int, list[tuple[str | None, float]]]: ...
    def slurm_jobs(self, experiment_id: str) -> list[str]: ...


def iso(seconds: float | None) -> str | None:
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def summary(
    spec: dict[str, Any], experiment_id: str, counts: dict[str, int], last_activity: str | None
) -> dict[str, Any]:
    """The overview card of one experiment."""
    total = int(spec.get("total_runs") or 0)
    finished = sum(counts.get(s, 0) for s in FINISHED)
    return {
        "experiment_id": experiment_id,
        "name": spec.get("name", experiment_id),
        "operation": operation_ref(spec),
        "description": spec.get("description", ""),
        "tags": spec.get("tags", []),
        "created_at": spec.get("created_at") or spec.get("submitted_at"),
        "total_runs": total,
        "counts": counts,
        "runs": sum(counts.values()),
        "pending": max(0, total - sum(counts.values())),
        "progress": min(1.0, finished / total) if total else None,
        "last_activity": last_activity,
    }


def public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if not k.startswith("_")}


class FileSource:
    kind = "file"

    def __init__(self, root: Path, refresh_interval: float = 2.0, freeze_gc: bool = False) -> None:
        self.root = root
        self.files = StoreFiles(root)
        self.index = FileIndex(root)
        self.refresher = IndexRefresher(self.index, refresh_interval, freeze_gc)
        self.cache = VersionedCache(FILE_CACHE_SIZE)

    def start(self) -> None:
        self.refresher.start()

    def close(self) -> None:
        self.refresher.stop()

    def check(self) -> tuple[bool, str]:
        if not self.root.is_dir():
            return False, f"{self.root} does not exist yet"
        if not os.access(self.root, os.R_OK | os.X_OK):
            return False, f"{self.root} is not readable"
        return True, ""

    def _wait(self) -> None:
        if not self.index.ready.is_set():
            self.index.refresh()

    def resolve(self, experiment_id: str) -> str:
        """The id the index knows: an upstream ``name:version`` names its directory
        ``name_version`` (as upstream's own store and Atlas do)."""
        self._wait()
        if ":" in experiment_id and self.index.experiment(experiment_id) is None:
            return safe_experiment_id(experiment_id)
        return experiment_id

    def _get(self, experiment_id: str) -> ExperimentIndex:
        self._wait()
        found = self.index.experiment(experiment_id)
        if found is None:
            raise NotFound(f"no experiment {experiment_id!r}")
        return found

    def _summary(self, index: ExperimentIndex) -> dict[str, Any]:
        version, rows = self.index.rows(index.experiment_id)

        def count() -> dict[str, int]:
            counts: dict[str, int] = {}
            for row in rows:
                counts[row["status"]] = counts.get(row["status"], 0) + 1
            return counts

        counts = self.cache.get(("counts", index.experiment_id), version, count)
        return summary(index.spec, index.experiment_id, counts, iso(index.last_activity))

    def experiments(self) -> list[dict[str, Any]]:
        self._wait()
        found = [self._summary(e) for e in self.index.experiments()]
        return sorted(found, key=lambda s: s["last_activity"] or "", reverse=True)

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        index = self._get(experiment_id)
        return {**self._summary(index), "spec": index.spec}

    def fields(self, experiment_id: str, wanted: Sequence[str] = ()) -> KnownFields:
        return self._get(experiment_id).fields

    def _cheap_ordering(
        self, experiment_id: str, sort: Field, descending: bool
    ) -> tuple[int, Ordering] | None:
        """The cached ordering, brought up to date by moving only the rows changed since
        (when they are few); None when only a full sort would do."""
        key = ("order", experiment_id, sort.name, descending)
        last = self.cache.last(key)
        if last is None:
            return None
        delta = self.index.delta(experiment_id, last[0])
        if delta is None or len(delta.dirty) > self.index.count(experiment_id) // 10:
            return None
        if delta.version == last[0]:
            return last
        updated = last[1].update(set(delta.dirty), delta.fresh)
        return delta.version, self.cache.get(key, delta.version, lambda: updated)

    def _ordering(self, experiment_id: str, sort: Field, descending: bool) -> tuple[int, Ordering]:
        """The experiment's rows in a sort order, cached per index version."""
        cheap = self._cheap_ordering(experiment_id, sort, descending)
        if cheap is not None:
            return cheap
        key = ("order", experiment_id, sort.name, descending)
        version, rows = self.index.rows(experiment_id)
        get = self._columns(experiment_id, version, rows)
        built = self.cache.get(
            key, version, lambda: evaluate.Ordering.build(rows, sort, descending, get(sort))
        )
        return version, built

    def _columns(self, experiment_id: str, version: int, rows: list[Row]) -> evaluate.Columns:
        """Values of a field for ``rows`` (the index's at ``version``), from the index's
        columns while that version is current."""

        def get(f: Field) -> list[Any]:
            found = self.index.column(experiment_id, version, f)
            return found if found is not None else evaluate.column(rows, f)

        return get

    def _masked(
        self, experiment_id: str, query: RunQuery
    ) -> tuple[int, list[Row], evaluate.Columns]:
        """(version, the rows matching ``query`` in run_id order, their values)."""
        version, rows = self.index.rows(experiment_id)
        get = self._columns(experiment_id, version, rows)
        mask = evaluate.select_mask(rows, query, get)
        if mask is None:
            return version, rows, get
        chosen = list(itertools.compress(rows, mask))

        def masked(f: Field) -> list[Any]:
            return list(itertools.compress(get(f), mask))

        return version, chosen, masked

    def _matching(self, experiment_id: str, query: RunQuery) -> tuple[int, list[dict[str, Any]]]:
        """(version, the query's rows in order), cached per index version: paging and
        re-sorting an unchanged experiment cost a slice."""
        self._get(experiment_id)
        sort, descending = query.sort, query.descending
        if query.filters or query.statuses or query.search:
            version, selection = self._selection(experiment_id, query)
            return version, selection.rows
        if sort.key == "run_id":  # the index keeps rows in run_id order
            version, rows = self.index.rows(experiment_id)
            return version, rows[::-1] if descending else rows
        version, ordering = self._ordering(experiment_id, sort, descending)
        return version, ordering.rows

    def _selection(self, experiment_id: str, query: RunQuery) -> tuple[int, Ordering]:
        """The matching rows in order. After a few changes the last selection is updated
        (changed rows dropped, those that match now put in place); otherwise an up-to-date
        full ordering is filtered, or the matches alone are sorted."""
        key = self._selection_key(experiment_id, query)
        match = evaluate.matcher(query)
        last = self.cache.last(key)
        if last is not None:
            delta = self.index.delta(experiment_id, last[0])
            if delta is not None and len(delta.dirty) <= self.index.count(experiment_id) // 10:
                if delta.version == last[0]:
                    return last
                fresh = [row for row in delta.fresh if match(row)]
                updated = last[1].update(set(delta.dirty), fresh)
                return delta.version, self.cache.get(key, delta.version, lambda: updated)
        sort, descending = query.sort, query.descending
        cheap = self._cheap_ordering(experiment_id, sort, descending)
        if cheap is not None:
            return cheap[0], self.cache.get(key, cheap[0], lambda: cheap[1].filtered(match))

        def build() -> Ordering:
            _, chosen, values = self._masked(experiment_id, query)
            return Ordering.build(chosen, sort, descending, values(sort))

        version = self.index.rows(experiment_id)[0]
        return version, self.cache.get(key, version, build)

    @staticmethod
    def _selection_key(experiment_id: str, query: RunQuery) -> Hashable:
        sort = (query.sort.name, query.descending)
        return ("select", experiment_id, *sort, query.filters, query.statuses, query.search)

    def runs(self, experiment_id: str, query: RunQuery) -> tuple[int, list[dict[str, Any]]]:
        _, matched = self._matching(experiment_id, query)
        rows = matched[query.offset : query.offset + query.limit]
        return len(matched), [public(r) for r in rows]

    def run(self, experiment_id: str, run_id: str) -> dict[str, Any]:
        record = self.files.record(experiment_id, run_id)
        if record is None:
            raise NotFound(f"no run {run_id!r} in {experiment_id!r}")
        if record.get("status") == "running" and self.index.liveness.is_lost(
            record.get("executor")
        ):
            record["status"] = LOST
        return record

    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]:
        return self.files.steps(experiment_id, run_id)

    def step_curves(
        self, experiment_id: str, run_ids: list[str], name: str
    ) -> dict[str, list[list[Any]]]:
        return self.files.step_curves(experiment_id, run_ids, name)

    def step_names(self, experiment_id: str, run_ids: list[str]) -> list[str]:
        return self.files.step_names(experiment_id, run_ids)

    def plot(
        self, experiment_id: str, query: RunQuery, x: Field, y: Field, group: Field | None
    ) -> list[dict[str, Any]]:
        self._get(experiment_id)
        version = self.index.rows(experiment_id)[0]
        key = ("plot", experiment_id, query.filters, query.statuses, query.search, x, y, group)

        def compute() -> list[dict[str, Any]]:
            _, rows, values = self._masked(experiment_id, query)
            return evaluate.aggregate(rows, x, y, group, values)

        return self.cache.get(key, version, compute)

    def values(
        self, experiment_id: str, query: RunQuery, f: Field, group: Field | None
    ) -> tuple[int, list[tuple[str | None, float]]]:
        """(matching runs, (group text, value) of those with a finite number in ``f``)."""
        self._get(experiment_id)
        version = self.index.rows(experiment_id)[0]
        key = ("values", experiment_id, query.filters, query.statuses, query.search, f, group)

        def compute() -> tuple[int, list[tuple[str | None, float]]]:
            _, rows, columns = self._masked(experiment_id, query)
            groups = columns(group) if group is not None else [None] * len(rows)
            pairs = [
                (text_of(g), float(v))
                for g, v in zip(groups, columns(f), strict=True)
                if is_number(v)
            ]
            return len(rows), pairs

        return self.cache.get(key, version, compute)

    def slurm_jobs(self, experiment_id: str) -> list[str]:
        """The SLURM jobs (``executor.slurm_job``) the experiment's runs record, distinct."""
        self._get(experiment_id)
        version, rows = self.index.rows(experiment_id)

        def compute() -> list[str]:
            jobs = {
                e["slurm_job"]
                for e in (r["_executor"] for r in rows)
                if isinstance(e, dict) and isinstance(e.get("slurm_job"), str) and e["slurm_job"]
            }
            return sorted(jobs)

        return self.cache.get(("slurm", experiment_id), version, compute)


class VersionedCache:
    """A small LRU of computed answers, each valid for one version of the data."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def last(self, key: Hashable) -> tuple[Any, Any] | None:
        """(version, value) of ``key`` whatever its version."""
        with self._lock:
            return self._items.get(key)

    def get(self, key: Hashable, version: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            found = self._items.get(key)
            if found is not None and found[0] == version:
                self._items.move_to_end(key)
                return cast(T, found[1])
        value = compute()
        with self._lock:
            self._items[key] = (version, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def open_source(
    store: str, refresh_interval: float = 2.0, freeze_gc: bool = False, ssh: Any = None
) -> RunSource:
    """The source for a store locator (a path, ``file://…``, ``postgresql://…`` or
    ``ssh://…``, ``ssh`` its `metalab_atlas.remote.SshSettings`); ``freeze_gc`` is for a
    process of its own (see `IndexRefresher`)."""
    if store.startswith(("postgresql://", "postgres://")):
        from metalab_atlas.pgsource import PostgresSource

        return PostgresSource(store)
    from metalab_atlas.remote import SshSettings, open_remote, parse_remote

    remote = parse_remote(store)
    if remote is not None:
        return open_remote(remote, ssh or SshSettings(), refresh_interval, freeze_gc)
    from metalab.store.run_index import locate
    from metalab_atlas.multistore import open_directory

    return open_directory(locate(store).file_root, refresh_interval, freeze_gc)
