"""Runs from a PostgresStore's index (docs/store-format.md), one connection guarded by a lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from metalab.atlas import pgsql
from metalab.atlas.evaluate import point, rank_key
from metalab.atlas.query import Field, KnownFields, NotFound, RunQuery
from metalab.atlas.runfiles import RunFiles
from metalab.atlas.source import public, summary
from metalab.errors import StoreError
from metalab.store.pgconfig import PostgresStoreConfig

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
        from metalab.store.locator import parse_locator

        config = parse_locator(locator)
        assert isinstance(config, PostgresStoreConfig)
        self.dsn = config.dsn
        self.files = RunFiles(Path(config.file_root))
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._fields: dict[str, tuple[float, KnownFields]] = {}

    def start(self) -> None:
        return None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                try:
                    self._conn = psycopg.connect(
                        self.dsn, autocommit=True, connect_timeout=3, application_name="atlas"
                    )
                except psycopg.Error as exc:
                    raise StoreError(_first_line(exc)) from None
            try:
                with self._conn.cursor() as cur:
                    yield cur
            except psycopg.errors.UndefinedTable:
                raise NotFound("the store has no tables yet") from None
            except psycopg.Error as exc:
                raise StoreError(_first_line(exc)) from None

    def _all(
        self, query: sql.SQL | sql.Composed, args: list[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        with self._cursor() as cur:
            cur.execute(query, args or [])
            return cur.fetchall()

    def check(self) -> tuple[bool, str]:
        try:
            self._all(sql.SQL("SELECT 1"))
        except StoreError as exc:
            return False, str(exc)
        return True, ""

    def experiments(self) -> list[dict[str, Any]]:
        try:
            specs = self._all(sql.SQL("SELECT experiment_id, spec, total_runs FROM experiments"))
            counts = self._all(
                sql.SQL(
                    "SELECT experiment_id, status, count(*), max(updated_at) FROM runs "
                    "GROUP BY experiment_id, status"
                )
            )
        except NotFound:
            return []
        per: dict[str, dict[str, int]] = {}
        last: dict[str, datetime] = {}
        for exp, status, n, latest in counts:
            per.setdefault(exp, {})[status] = int(n)
            if latest is not None and (exp not in last or latest > last[exp]):
                last[exp] = latest
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
        card = summary(
            {**spec, "total_runs": total},
            experiment_id,
            {s: int(n) for s, n, _ in counts},
            _iso(latest),
        )
        return {**card, "spec": spec}

    def fields(self, experiment_id: str) -> KnownFields:
        cached = self._fields.get(experiment_id)
        if cached is not None and time.monotonic() - cached[0] < FIELDS_TTL:
            return cached[1]
        self.experiment(experiment_id)
        found = KnownFields()
        for column, target in (("params", found.params), ("metrics", found.metrics)):
            rows = self._all(
                sql.SQL("SELECT DISTINCT jsonb_object_keys(r.{}) FROM runs r WHERE ").format(
                    sql.Identifier(column)
                )
                + sql.SQL("r.experiment_id = %s"),
                [experiment_id],
            )
            target.update(r[0] for r in rows)
        self._fields[experiment_id] = (time.monotonic(), found)
        return found

    def runs(self, experiment_id: str, query: RunQuery) -> tuple[int, list[dict[str, Any]]]:
        cond = pgsql.where(experiment_id, query)
        order = pgsql.order_by(query.sort, query.descending)
        total = self._all(
            sql.SQL("SELECT count(*) FROM runs r WHERE {}").format(cond.text), cond.args
        )[0][0]
        page = self._all(
            sql.SQL("SELECT {} FROM runs r WHERE {} ORDER BY {} OFFSET %s LIMIT %s").format(
                SELECT_ROW, cond.text, order.text
            ),
            [*cond.args, *order.args, query.offset, query.limit],
        )
        return int(total), [public(_row(r)) for r in page]

    def run(self, experiment_id: str, run_id: str) -> dict[str, Any]:
        record = self.files.record(experiment_id, run_id)
        if record is not None:
            return record
        rows = self._all(
            sql.SQL(
                "SELECT {}, r.traceback FROM runs r WHERE experiment_id = %s AND run_id = %s"
            ).format(SELECT_ROW),
            [experiment_id, run_id],
        )
        if not rows:
            raise NotFound(f"no run {run_id!r} in {experiment_id!r}")
        return {**_row(rows[0][:-1]), "traceback": rows[0][-1], "experiment_id": experiment_id}

    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]:
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

    def plot(
        self, experiment_id: str, query: RunQuery, x: Field, y: Field, group: Field | None
    ) -> list[dict[str, Any]]:
        cond = pgsql.where(experiment_id, query)
        xv, yv = pgsql.value_expr(x), pgsql.value_expr(y)
        gv = pgsql.value_expr(group) if group is not None else pgsql.Expr(sql.SQL("NULL"))
        x_json = _as_jsonb(x, xv)
        g_text = _as_text(group, gv)
        y_num = (
            pgsql.Expr(
                sql.SQL("CASE WHEN jsonb_typeof({y}) = 'number' THEN ({y})::float8 END").format(
                    y=yv.text
                ),
                [*yv.args, *yv.args],
            )
            if y.kind in ("params", "metrics")
            else pgsql.Expr(sql.SQL("({})::float8").format(yv.text), yv.args)
        )
        inner = sql.SQL("SELECT {x} AS x, {g} AS g, {y} AS y FROM runs r WHERE {w}").format(
            x=x_json.text, g=g_text.text, y=y_num.text, w=cond.text
        )
        statement = sql.SQL(
            "SELECT g, x, avg(y), coalesce(stddev_samp(y), 0), count(*) FROM ({}) t "
            "WHERE y IS NOT NULL AND x IS NOT NULL AND x <> 'null'::jsonb GROUP BY g, x"
        ).format(inner)
        rows = self._all(statement, [*x_json.args, *g_text.args, *y_num.args, *cond.args])
        series: dict[str | None, list[dict[str, Any]]] = {}
        for g, xval, mean, std, n in rows:
            series.setdefault(g, []).append(
                {**point(xval, [float(mean)]), "std": float(std), "n": int(n)}
            )
        return [
            {"group": g, "points": sorted(pts, key=lambda p: rank_key(p["x"]))}
            for g, pts in sorted(series.items(), key=lambda kv: rank_key(kv[0]))
        ]


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
                "CASE WHEN jsonb_typeof({g}) = 'string' THEN {g} #>> '{{}}' ELSE ({g})::text END"
            ).format(g=e.text),
            [*e.args, *e.args, *e.args],
        )
    return pgsql.Expr(sql.SQL("({})::text").format(e.text), e.args)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
