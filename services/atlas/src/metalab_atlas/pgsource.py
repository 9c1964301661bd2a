"""Runs from a PostgresStore's index (docs/store-format.md) through a small connection pool."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Hashable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from contextvars import copy_context
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from psycopg import sql

from metalab.core.errors import StoreError
from metalab.store.run_index import ensure_schema, locate
from metalab_atlas import clientgone, pgplot, pgsql
from metalab_atlas.clientgone import ClientGone
from metalab_atlas.evaluate import point, rank_key, text_of
from metalab_atlas.liveness import LOST, Liveness
from metalab_atlas.pgpool import POOL_SIZE, STATEMENT_TIMEOUT, Pool, cancel_of, first_line
from metalab_atlas.query import Field, KnownFields, NotFound, QueryError, RunQuery
from metalab_atlas.source import VersionedCache, public, summary
from metalab_atlas.storefiles import StoreFiles

# answers kept per version of an experiment: many readers browsing pages, filters, plots
CACHE_SIZE = 512
FIELDS_TTL = 10.0
COLUMNS = (
    "run_id",
    "status",
    "attempt",
    "seed",
    "host",
    "error",
    "created_at",
    "started_at",
    "finished_at",
    "duration_s",
    "params",
    "metrics",
)
SELECT_ROW = sql.SQL(", ").join(
    sql.SQL("left(r.error, 500)") if c == "error" else sql.SQL("r.{}").format(sql.Identifier(c))
    for c in COLUMNS
)


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    return {c: _iso(v) for c, v in zip(COLUMNS, values, strict=True)}


class PostgresSource:
    kind = "postgres"

    def __init__(self, locator: str) -> None:
        where = locate(locator)
        assert where.dsn is not None
        self.dsn = where.dsn
        self.files = StoreFiles(where.file_root)
        self.pool = Pool(self.dsn)
        self.cache = VersionedCache(CACHE_SIZE)
        self._stamps: dict[str, Future[tuple[Hashable, frozenset[str]]]] = {}
        self._stamp_lock = threading.Lock()
        self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="atlas-pg")
        # runs statements on the pool's spare connections: never more than it has, no queue
        self._helpers = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="atlas-pq")
        self._fields: dict[str, tuple[float, KnownFields]] = {}
        self._loading: set[str] = set()
        self._fields_lock = threading.Lock()
        self.liveness = Liveness()
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def start(self) -> None:
        return None

    def close(self) -> None:
        self._background.shutdown(wait=True)
        self._helpers.shutdown(wait=True)
        self.pool.close()

    def _upgrade(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        """Bring an older database's schema up to this version once (what Atlas's queries
        need: run_values, run_versions; a no-op query when it is current)."""
        with self._schema_lock:
            if not self._schema_ready:
                ensure_schema(conn)
                self._schema_ready = True

    def _all(
        self,
        query: sql.Composable,
        args: list[Any] | None = None,
        settings: Sequence[tuple[str, str]] = (),
    ) -> list[tuple[Any, ...]]:
        """The rows of ``query``; ``settings`` apply to it alone (SET LOCAL)."""
        with self.pool.connection() as conn:
            return self._run(conn, pgsql.Expr(query, args), settings)

    def _run(
        self,
        conn: psycopg.Connection[tuple[Any, ...]],
        statement: pgsql.Expr,
        settings: Sequence[tuple[str, str]] = (),
    ) -> list[tuple[Any, ...]]:
        try:
            with clientgone.statement(cancel_of(conn)):
                if not self._schema_ready:
                    self._upgrade(conn)
                if not settings:
                    return conn.execute(
                        cast(sql.Composed, statement.text), statement.args
                    ).fetchall()
                with conn.transaction():
                    for name, value in settings:
                        conn.execute("SELECT set_config(%s, %s, true)", [name, value])
                    return conn.execute(
                        cast(sql.Composed, statement.text), statement.args
                    ).fetchall()
        except psycopg.errors.UndefinedTable:
            raise NotFound("the store has no tables yet") from None
        except psycopg.errors.QueryCanceled:
            if clientgone.client_gone():
                raise ClientGone("the client disconnected: query cancelled") from None
            raise StoreError(
                f"query cancelled after statement_timeout={STATEMENT_TIMEOUT}"
            ) from None
        except psycopg.Error as exc:
            raise StoreError(first_line(exc)) from None

    def _all_at_once(
        self, statements: Sequence[pgsql.Expr], settings: Sequence[tuple[str, str]] = ()
    ) -> list[list[tuple[Any, ...]]]:
        """Each statement's rows, run side by side on the pool's free connections (the
        rest one after another on this thread's). The thread takes its own connection
        first and never waits for a spare one, so concurrent requests cannot deadlock."""
        with self.pool.connection() as own, ExitStack() as spares:
            helped: dict[int, Future[list[tuple[Any, ...]]]] = {}
            for i in range(1, len(statements)):
                spare = spares.enter_context(self.pool.spare())
                if spare is None:
                    break
                helped[i] = self._helpers.submit(
                    copy_context().run, self._run, spare, statements[i], settings
                )
            try:
                mine = {
                    i: self._run(own, statement, settings)
                    for i, statement in enumerate(statements)
                    if i not in helped
                }
            finally:  # a spare goes back to the pool only once its statement is done
                wait(helped.values())
            return [mine[i] if i in mine else helped[i].result() for i in range(len(statements))]

    def check(self) -> tuple[bool, str]:
        """Whether the database answers. No schema work here: this is the readiness probe of
        `services up`, and creating the tables of a fresh store would hold it up."""
        try:
            with self.pool.connection() as conn:
                conn.execute("SELECT 1").fetchall()
        except (psycopg.Error, StoreError) as exc:
            return False, first_line(exc) if isinstance(exc, psycopg.Error) else str(exc)
        return True, ""

    def resolve(self, experiment_id: str) -> str:
        """Ids are stored as written (``name:version`` included)."""
        return experiment_id

    def experiments(self) -> list[dict[str, Any]]:
        try:
            specs = self._all(sql.SQL("SELECT experiment_id, spec, total_runs FROM experiments"))
            counts = self._all(
                sql.SQL(
                    "SELECT experiment_id, status, count(*), max(updated_at) FROM runs "
                    "GROUP BY experiment_id, status"
                )
            )
            running = self._all(
                sql.SQL("SELECT experiment_id, run_id, executor FROM runs WHERE status = 'running'")
            )
        except NotFound:
            return []
        per: dict[str, dict[str, int]] = {}
        last: dict[str, datetime] = {}
        for exp, status, n, latest in counts:
            per.setdefault(exp, {})[status] = int(n)
            if latest is not None and (exp not in last or latest > last[exp]):
                last[exp] = latest
        lost = self.liveness.lost((f"{exp}/{run_id}", ex) for exp, run_id, ex in running)
        for key in lost:
            _move_lost(per.setdefault(key.partition("/")[0], {}), 1)
        out = [
            summary({**spec, "total_runs": total}, exp, per.get(exp, {}), _iso(last.get(exp)))
            for exp, spec, total in specs
        ]
        return sorted(out, key=lambda s: s["last_activity"] or "", reverse=True)

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        rows = self._all(
            sql.SQL("SELECT spec, total_runs FROM experiments WHERE experiment_id = %s"),
            [experiment_id],
        )
        if not rows:
            raise NotFound(f"no experiment {experiment_id!r}")
        spec, total = rows[0]
        counts = self._all(
            sql.SQL(
                "SELECT status, count(*), max(updated_at) FROM runs WHERE experiment_id = %s "
                "GROUP BY status"
            ),
            [experiment_id],
        )
        latest = max((c[2] for c in counts if c[2] is not None), default=None)
        per = {s: int(n) for s, n, _ in counts}
        _move_lost(per, len(self._lost(experiment_id)))
        card = summary({**spec, "total_runs": total}, experiment_id, per, _iso(latest))
        return {**card, "spec": spec}

    def fields(self, experiment_id: str, wanted: Sequence[str] = ()) -> KnownFields:
        """The experiment's fields, cached: reloaded at once when ``wanted`` names one not
        seen yet (at most once a second), in the background when older than `FIELDS_TTL`."""
        cached = self._fields.get(experiment_id)
        age = time.monotonic() - cached[0] if cached else math.inf
        if cached is None or (age > 1.0 and not _knows(cached[1], wanted)):
            return self._load_fields(experiment_id)
        if age > FIELDS_TTL:
            with self._fields_lock:
                start = experiment_id not in self._loading
                self._loading.add(experiment_id)
            if start:
                threading.Thread(
                    target=self._load_fields, args=(experiment_id,), daemon=True
                ).start()
        return cached[1]

    def _load_fields(self, experiment_id: str) -> KnownFields:
        try:
            self.experiment(experiment_id)
            found = KnownFields()
            for column, target in (("params", found.params), ("metrics", found.metrics)):
                rows = self._all(
                    sql.SQL("SELECT DISTINCT jsonb_object_keys(r.{}) FROM runs r ").format(
                        sql.Identifier(column)
                    )
                    + sql.SQL("WHERE r.experiment_id = %s"),
                    [experiment_id],
                )
                target.update(r[0] for r in rows)
            self._fields[experiment_id] = (time.monotonic(), found)
            return found
        finally:
            with self._fields_lock:
                self._loading.discard(experiment_id)

    def _lost(self, experiment_id: str) -> frozenset[str]:
        """The experiment's running runs whose executor is gone (few rows, by index)."""
        return self._stamp(experiment_id)[1]

    def _stamp(self, experiment_id: str) -> tuple[Hashable, frozenset[str]]:
        """A version of the experiment's runs: the counter every write of its runs bumps in
        the writer's transaction (``run_versions``), with the lost runs. Requests that
        arrive while one is being read share that answer (one statement for many readers)."""
        with self._stamp_lock:
            flight = self._stamps.get(experiment_id)
            leader = flight is None
            if flight is None:
                flight = self._stamps[experiment_id] = Future()
        if not leader:
            try:
                return flight.result()
            except Exception:  # noqa: BLE001 - the leader's failure may be its own (its client gone)
                return self._read_stamp(experiment_id)
        try:
            found = self._read_stamp(experiment_id)
            flight.set_result(found)
            return found
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            with self._stamp_lock:
                del self._stamps[experiment_id]

    def _read_stamp(self, experiment_id: str) -> tuple[Hashable, frozenset[str]]:
        """`_stamp` in one statement: the version, and the running runs' executors."""
        rows = self._all(
            sql.SQL(
                "SELECT (SELECT version FROM run_versions WHERE experiment_id = %s), "
                "r.run_id, r.executor FROM (SELECT 1) one LEFT JOIN runs r "
                "ON r.experiment_id = %s AND r.status = 'running'"
            ),
            [experiment_id, experiment_id],
        )
        version = int(rows[0][0]) if rows and rows[0][0] is not None else 0
        running = [(run_id, executor) for _, run_id, executor in rows if run_id is not None]
        return version, self.liveness.lost(running)

    def runs(self, experiment_id: str, query: RunQuery) -> tuple[int, list[dict[str, Any]]]:
        """A page, cached until the experiment's runs change (see `_stamp`)."""
        stamp = self._stamp(experiment_id)
        return self.cache.get(
            ("runs", experiment_id, query),
            stamp,
            lambda: self._runs(experiment_id, query, stamp[1]),
        )

    def _runs(
        self, experiment_id: str, query: RunQuery, lost: frozenset[str] = frozenset()
    ) -> tuple[int, list[dict[str, Any]]]:
        """The count and the page's ordered run ids (a narrow sort) run concurrently on two
        connections; then the page's rows are fetched by primary key."""
        cond = pgsql.where(experiment_id, query, lost)
        if query.sort.kind in ("params", "metrics"):
            total, ids = self._ids_by_value(experiment_id, query, cond)
            return total, self._page(experiment_id, ids, lost)
        order = pgsql.order_by(query.sort, query.descending, lost)
        count = self._background.submit(
            copy_context().run,
            self._all,
            sql.SQL("SELECT count(*) FROM runs r WHERE {}").format(cond.text),
            cond.args,
        )
        ids = [
            row[0]
            for row in self._all(
                sql.SQL(
                    "SELECT r.run_id FROM runs r WHERE {} ORDER BY {} OFFSET %s LIMIT %s"
                ).format(cond.text, order.text),
                [*cond.args, *order.args, query.offset, query.limit],
            )
        ]
        return int(count.result()[0][0]), self._page(experiment_id, ids, lost)

    def _ids_by_value(
        self, experiment_id: str, query: RunQuery, cond: pgsql.Expr
    ) -> tuple[int, list[str]]:
        """(count, the page's run ids) sorted by a param or metric through run_values.
        Filtered: the matches, then their sort. Unfiltered: the numbers, the other values and
        the runs without one are each an index walk."""
        if pgsql.is_filtered(query):
            statement = pgsql.matches_by_value(
                query.sort, query.descending, cond, query.offset, query.limit
            )
            total, found = self._all(statement.text, statement.args)[0]
            return int(total), list(found)
        counts = pgsql.value_counts(query.sort, cond)
        total, numbers, texts = (int(n) for n in self._all(counts.text, counts.args)[0])
        ids: list[str] = []
        offset, wanted = query.offset, query.limit
        for part, size in (("num", numbers), ("txt", texts), ("missing", total)):
            if wanted <= 0:
                break
            if offset >= size and part != "missing":
                offset -= size
                continue
            if part == "missing":
                page = pgsql.missing_page(query.sort, cond, offset, wanted)
            else:
                page = pgsql.value_page(
                    query.sort, part, query.descending, experiment_id, offset, wanted
                )
            found = [row[0] for row in self._all(page.text, page.args)]
            ids.extend(found)
            wanted -= len(found)
            offset = 0
        return total, ids

    def _page(
        self, experiment_id: str, ids: list[str], lost: frozenset[str]
    ) -> list[dict[str, Any]]:
        """The rows of ``ids``, in that order."""
        if not ids:
            return []
        rows = self._all(
            sql.SQL(
                "SELECT {} FROM runs r WHERE r.experiment_id = %s AND r.run_id = ANY(%s)"
            ).format(SELECT_ROW),
            [experiment_id, ids],
        )
        by_id = {row[0]: row for row in rows}
        return [_shown(public(_row(by_id[i])), lost) for i in ids if i in by_id]

    def run(self, experiment_id: str, run_id: str) -> dict[str, Any]:
        record = self.files.record(experiment_id, run_id)
        if record is not None:
            if record.get("status") == "running" and self.liveness.is_lost(record.get("executor")):
                record["status"] = LOST
            return record
        rows = self._all(
            sql.SQL(
                "SELECT {}, r.traceback FROM runs r WHERE experiment_id = %s AND run_id = %s"
            ).format(SELECT_ROW),
            [experiment_id, run_id],
        )
        if not rows:
            raise NotFound(f"no run {run_id!r} in {experiment_id!r}")
        row = _shown(_row(rows[0][:-1]), self._lost(experiment_id))
        return {**row, "traceback": rows[0][-1], "experiment_id": experiment_id}

    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]:
        if self.files.is_upstream(experiment_id):  # upstream keeps them in results/ files
            return self.files.steps(experiment_id, run_id)
        rows = self._all(
            sql.SQL(
                "SELECT name, step, value FROM metric_steps WHERE experiment_id = %s "
                "AND run_id = %s ORDER BY name, step"
            ),
            [experiment_id, run_id],
        )
        out: dict[str, list[list[Any]]] = {}
        for name, step, value in rows:
            out.setdefault(name, []).append([int(step), value])
        return out

    def step_curves(
        self, experiment_id: str, run_ids: list[str], name: str
    ) -> dict[str, list[list[Any]]]:
        """One stepped metric of many runs in one statement (``metric_steps``' primary key
        serves it); upstream-layout runs keep theirs in files."""
        if self.files.is_upstream(experiment_id):
            return self.files.step_curves(experiment_id, run_ids, name)
        rows = self._all(
            sql.SQL(
                "SELECT run_id, step, value FROM metric_steps WHERE experiment_id = %s "
                "AND run_id = ANY(%s) AND name = %s ORDER BY run_id, step"
            ),
            [experiment_id, run_ids, name],
        )
        out: dict[str, list[list[Any]]] = {}
        for run_id, step, value in rows:
            out.setdefault(run_id, []).append([int(step), value])
        return out

    def step_names(self, experiment_id: str, run_ids: list[str]) -> list[str]:
        if self.files.is_upstream(experiment_id):
            return self.files.step_names(experiment_id, run_ids)
        rows = self._all(
            sql.SQL(
                "SELECT DISTINCT name FROM metric_steps WHERE experiment_id = %s "
                "AND run_id = ANY(%s) ORDER BY name"
            ),
            [experiment_id, run_ids],
        )
        return [str(r[0]) for r in rows]

    def plot(
        self, experiment_id: str, query: RunQuery, x: Field, y: Field, group: Field | None
    ) -> list[dict[str, Any]]:
        """Plot data, cached until the experiment's runs change (see `_stamp`)."""
        stamp = self._stamp(experiment_id)
        key = ("plot", experiment_id, query, x, y, group)
        return self.cache.get(
            key, stamp, lambda: self._plot(experiment_id, query, x, y, group, stamp[1])
        )

    def _values_plot(
        self, experiment_id: str, x: Field, y: Field, group: Field | None
    ) -> list[tuple[Any, ...]]:
        """`pgplot.values_plot` in two halves of the run ids, one per connection, so that
        PostgreSQL runs them on two cores (its own parallel plans rescan the joined sides
        in every worker: slower than one process)."""
        probe = pgplot.split_probe(experiment_id, y)
        point = pgplot.split_point(*self._all(probe.text, probe.args)[0])
        ranges: list[pgplot.RunRange] = [(None, point), (point, None)] if point else [(None, None)]
        parts = [pgplot.values_plot(experiment_id, x, y, group, runs) for runs in ranges]
        return pgplot.merge_cells(self._all_at_once(parts, pgplot.SETTINGS))

    def _plot(
        self,
        experiment_id: str,
        query: RunQuery,
        x: Field,
        y: Field,
        group: Field | None,
        lost: frozenset[str] = frozenset(),
    ) -> list[dict[str, Any]]:
        if pgplot.eligible(x, y, group, pgsql.is_filtered(query)):
            axes = [x] + ([group] if group is not None else [])
            probe = pgplot.has_non_finite_text(experiment_id, axes)
            if not self._all(probe.text, probe.args)[0][0]:
                rows = self._values_plot(experiment_id, x, y, group)
                return _series(
                    (None if g is None else text_of(json.loads(g)), *rest) for g, *rest in rows
                )
        cond = pgsql.where(experiment_id, query, lost)
        xv = pgsql.value_expr(x, lost)
        gv = pgsql.value_expr(group, lost) if group is not None else pgsql.Expr(sql.SQL("NULL"))
        y_num, join = _number(y, lost, keep_missing=False)
        inner = sql.SQL("SELECT {x} AS xr, {g} AS gr, {y} AS y FROM runs r {join}WHERE {w}").format(
            x=xv.text, g=gv.text, y=y_num.text, join=join.text, w=cond.text
        )
        cells = sql.SQL(
            "SELECT xr, gr, avg(y) AS mean, coalesce(stddev_samp(y), 0) AS std, count(*) AS n "
            "FROM ({}) i WHERE y IS NOT NULL AND xr IS NOT NULL GROUP BY xr, gr"
        ).format(inner)
        x_json = _as_jsonb(x, pgsql.Expr(sql.SQL("t.xr")))
        g_text = _as_text(group, pgsql.Expr(sql.SQL("t.gr")))
        statement = sql.SQL("SELECT {g}, ({x})::text, mean, std, n FROM ({cells}) t").format(
            g=g_text.text, x=x_json.text, cells=cells
        )
        args = [*g_text.args, *x_json.args, *xv.args, *gv.args, *y_num.args, *join.args]
        return _series(r for r in self._all(statement, [*args, *cond.args]) if r[1] != "null")

    def values(
        self, experiment_id: str, query: RunQuery, f: Field, group: Field | None
    ) -> tuple[int, list[tuple[str | None, float]]]:
        """(matching runs, (group text, value) of those with a finite number in ``f``),
        cached until the experiment's runs change; params and metrics from ``run_values``."""
        stamp = self._stamp(experiment_id)
        key = ("values", experiment_id, query, f, group)
        return self.cache.get(
            key, stamp, lambda: self._values(experiment_id, query, f, group, stamp[1])
        )

    def _values(
        self,
        experiment_id: str,
        query: RunQuery,
        f: Field,
        group: Field | None,
        lost: frozenset[str],
    ) -> tuple[int, list[tuple[str | None, float]]]:
        cond = pgsql.where(experiment_id, query, lost)
        gv = pgsql.value_expr(group, lost) if group is not None else pgsql.Expr(sql.SQL("NULL"))
        y_num, join = _number(f, lost, keep_missing=True)
        g_text = _as_text(group, pgsql.Expr(sql.SQL("t.gr")))
        statement = sql.SQL(
            "SELECT {g}, y FROM (SELECT {gv} AS gr, {y} AS y FROM runs r {join}WHERE {w}) t"
        ).format(g=g_text.text, gv=gv.text, y=y_num.text, join=join.text, w=cond.text)
        args = [*g_text.args, *gv.args, *y_num.args, *join.args, *cond.args]
        rows = self._all(statement, args)
        pairs = [(g, float(y)) for g, y in rows if y is not None and math.isfinite(y)]
        return len(rows), pairs

    def slurm_jobs(self, experiment_id: str) -> list[str]:
        """The SLURM jobs (``executor.slurm_job``) the experiment's runs record, distinct;
        cached until its runs change."""
        stamp = self._stamp(experiment_id)
        statement = sql.SQL(
            "SELECT DISTINCT executor->>'slurm_job' FROM runs WHERE experiment_id = %s "
            "AND executor->>'slurm_job' <> ''"
        )
        return self.cache.get(
            ("slurm", experiment_id),
            stamp,
            lambda: sorted(str(r[0]) for r in self._all(statement, [experiment_id])),
        )


def _series(rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Plot series from (group text, x as JSON text, mean, std, n) rows."""
    series: dict[str | None, list[dict[str, Any]]] = {}
    for g, xval, mean, std, n in rows:
        series.setdefault(g, []).append(
            {**point(json.loads(xval), [float(mean)]), "std": float(std), "n": int(n)}
        )
    return [
        {"group": g, "points": sorted(pts, key=lambda p: rank_key(p["x"]))}
        for g, pts in sorted(series.items(), key=lambda kv: rank_key(kv[0]))
    ]


def _move_lost(counts: dict[str, int], n: int) -> None:
    """Count ``n`` of the running runs as lost."""
    if n:
        counts[LOST] = counts.get(LOST, 0) + n
        counts["running"] = counts.get("running", 0) - n
        if not counts["running"]:
            del counts["running"]


def _shown(row: dict[str, Any], lost: frozenset[str]) -> dict[str, Any]:
    if row.get("status") == "running" and row.get("run_id") in lost:
        return {**row, "status": LOST}
    return row


def _knows(fields: KnownFields, wanted: Sequence[str]) -> bool:
    try:
        for name in wanted:
            fields.resolve(name)
    except QueryError:
        return False
    return True


def _as_jsonb(f: Field, e: pgsql.Expr) -> pgsql.Expr:
    if f.kind in ("params", "metrics"):
        return e
    return pgsql.Expr(sql.SQL("to_jsonb({})").format(e.text), e.args)


def _as_text(f: Field | None, e: pgsql.Expr) -> pgsql.Expr:
    if f is None:
        return e
    if f.kind in ("params", "metrics"):
        return pgsql.Expr(
            sql.SQL(
                "CASE jsonb_typeof({g}) WHEN 'string' THEN {g} #>> '{{}}' "
                "WHEN 'null' THEN NULL ELSE ({g})::text END"
            ).format(g=e.text),
            [*e.args, *e.args, *e.args],
        )
    return pgsql.Expr(sql.SQL("({})::text").format(e.text), e.args)


def _number(f: Field, lost: frozenset[str], keep_missing: bool) -> tuple[pgsql.Expr, pgsql.Expr]:
    """A run's number in ``f`` and the join it needs: params and metrics are the typed numbers
    of ``run_values`` (``keep_missing``: runs without one stay, as NULL), other fields a cast."""
    if f.kind in ("params", "metrics"):
        outer, number = ("LEFT ", "") if keep_missing else ("", "AND yv.num IS NOT NULL ")
        join = sql.SQL(
            outer + "JOIN run_values yv ON yv.experiment_id = r.experiment_id "
            "AND yv.field = %s AND yv.run_id = r.run_id " + number
        )
        return pgsql.Expr(sql.SQL("yv.num")), pgsql.Expr(join, [f.name])
    value = pgsql.value_expr(f, lost)
    cast = pgsql.Expr(sql.SQL("({})::float8").format(value.text), value.args)
    return cast, pgsql.Expr(sql.SQL(""))
