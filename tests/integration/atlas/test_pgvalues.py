"""PostgreSQL's typed value index (run_values) answers like the file index, follows writes,
and `reindex` rebuilds it; the schema upgrade is idempotent."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import psycopg
import pytest

from metalab._runstore import reindex
from metalab._runstore.base import RunRecord
from metalab._runstore.file import FileStore
from metalab._runstore.locator import parse_locator
from metalab._runstore.pgschema import ensure_schema
from metalab._runstore.postgres import PostgresStore
from metalab_atlas.pgsource import PostgresSource
from metalab_atlas.query import parse_query
from metalab_atlas.source import FileSource
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.timeout(300)

# every kind of value: numbers (ties, ints and floats), text, booleans, objects, missing ones
VALUES: list[Any] = [3, 1.5, -2, 3.0, "b", "a", "NaN", "Infinity", None, True, {"k": 1}, 0, "10"]


def mixed_records() -> list[RunRecord]:
    out = []
    for i, (v, w) in enumerate(itertools.product(VALUES, VALUES[:4])):
        params: dict[str, Any] = {"w": w, "i": i}
        if i % 7 != 3:  # some runs lack the key
            params["v"] = v
        metrics = {} if i % 5 == 1 else {"m": VALUES[(i * 3) % len(VALUES)]}
        status = ("completed", "failed", "running")[i % 3]
        out.append(RunRecord("mixed", f"{i:020x}", params, i, status, metrics=metrics))
    return out


def write(store: FileStore | PostgresStore, records: list[RunRecord]) -> None:
    store.put_experiment({"experiment_id": "mixed", "name": "mixed"}, len(records))
    store.write_runs(records)


@pytest.fixture
def stores(pg_server: PostgresServer, tmp_path: Path) -> tuple[str, Path]:
    root = tmp_path / "files"
    locator = f"{pg_server.dsn(pg_server.create_database())}&file_root={root}"
    store = parse_locator(locator).open()
    assert isinstance(store, PostgresStore)
    try:
        write(store, mixed_records())
    finally:
        store.close()
    return locator, root


QUERIES: list[dict[str, Any]] = [
    {},
    {"status": "completed,running"},
    {"where": ["params.v:gt:1"]},
    {"where": ["params.v:lt:3", "params.w:eq:3"]},
    {"where": ["metrics.m:gt:-5"], "status": "completed"},
    {"q": "nan"},
]


def answers(source: FileSource | PostgresSource, sort: str, spec: dict[str, Any]) -> list[Any]:
    fields = source.fields("mixed")
    out = []
    for order in ("asc", "desc"):
        pages = []
        for offset in range(0, 60, 4):  # pages crossing numbers / text / missing
            kwargs: dict[str, Any] = {"where": [], **spec}
            query = parse_query(fields, sort=sort, order=order, offset=offset, limit=4, **kwargs)
            total, rows = source.runs("mixed", query)
            pages.append((total, [r["run_id"] for r in rows]))
        out.append(pages)
    return out


@pytest.mark.parametrize("sort", ["params.v", "metrics.m", "params.w", "status", "seed"])
def test_pages_agree_on_mixed_values(stores: tuple[str, Path], sort: str) -> None:
    locator, root = stores
    files, pg = FileSource(root), PostgresSource(locator)
    try:
        files.index.refresh()
        for spec in QUERIES:
            assert answers(files, sort, spec) == answers(pg, sort, spec), (sort, spec)
    finally:
        pg.close()


def ordered(source: FileSource | PostgresSource, sort: str = "metrics.m") -> list[str]:
    query = parse_query(source.fields("mixed"), where=[], sort=sort, limit=500)
    return [r["run_id"] for r in source.runs("mixed", query)[1]]


def test_run_values_follow_writes_and_reindex_rebuilds_them(stores: tuple[str, Path]) -> None:
    locator, root = stores
    pg = PostgresSource(locator)
    store = parse_locator(locator).open()
    assert isinstance(store, PostgresStore)
    try:
        records = mixed_records()
        records[0].metrics = {"m": -100.0}  # now first
        store.write_run(records[0])
        assert ordered(pg)[0] == records[0].run_id
        store.conn.execute(
            "DELETE FROM runs WHERE experiment_id = 'mixed' AND run_id = %s", [records[1].run_id]
        )
        assert records[1].run_id not in ordered(pg)
        leftover = store.conn.execute(
            "SELECT count(*) FROM run_values WHERE run_id = %s", [records[1].run_id]
        ).fetchone()
        assert leftover == (0,)
        store.conn.execute("DELETE FROM run_values")  # lose the typed copies entirely
    finally:
        store.close()
    assert reindex(locator) == len(records)
    files = FileSource(root)
    files.index.refresh()
    try:
        for sort in ("metrics.m", "params.v"):
            assert ordered(pg, sort) == ordered(files, sort)
    finally:
        pg.close()


def test_schema_upgrade_by_atlas_is_idempotent_and_fills_run_values(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    locator = f"{pg_server.dsn(pg_server.create_database())}&file_root={tmp_path}"
    store = parse_locator(locator).open()
    assert isinstance(store, PostgresStore)
    try:
        write(store, mixed_records())
        conn = store.conn
        expected = conn.execute("SELECT count(*) FROM run_values").fetchone()
        # back to a version-1 database: no typed copies, no trigger, no counter
        conn.execute("DROP TABLE run_values, run_versions")
        conn.execute("DROP TRIGGER runs_values ON runs")
        conn.execute("DELETE FROM metalab_schema WHERE version > 1")
        atlas = PostgresSource(locator)  # Atlas on an older database upgrades it first
        try:
            assert len(ordered(atlas)) == len(mixed_records())
        finally:
            atlas.close()
        assert conn.execute("SELECT count(*) FROM run_values").fetchone() == expected
        ensure_schema(conn)
        assert conn.execute("SELECT count(*) FROM run_values").fetchone() == expected
        with psycopg.connect(store.config.dsn, autocommit=True) as other:
            conn.execute("DELETE FROM metalab_schema WHERE version > 1")
            ensure_schema(other)  # concurrent-safe and a no-op on existing objects
    finally:
        store.close()
