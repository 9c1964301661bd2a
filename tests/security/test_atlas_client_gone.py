"""A request whose HTTP client disconnects has its PostgreSQL queries cancelled at once.

A real Atlas over a real PostgreSQL. The queries run long for real reasons: another session
holds an ACCESS EXCLUSIVE lock on ``runs`` (as a ``VACUUM FULL`` or a schema migration
would), so Atlas's statement waits inside PostgreSQL; or the request's 20 filters must each
read every failed run's megabyte-long error message, so PostgreSQL computes for seconds on
two connections at once (the count and the page). The client drops its connection;
PostgreSQL's own log must then say that each backend's statement was cancelled "due to user
request" (a cancel request), not by ``statement_timeout``, and the pool must serve on.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from metalab._runstore.base import RunRecord, Store
from metalab_atlas.pgpool import POOL_SIZE
from metalab_atlas.query import MAX_FILTERS
from tests.integration.atlas.dataset import populate, populate_locator
from tests.integration.atlas.server import Atlas, running_atlas
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]
POLL_LIMIT = 30.0  # generous: longer than statement_timeout, so never a speed assertion
ROUTES = {
    "experiments": "/api/experiments",
    "runs filtered": "/api/experiments/sweep/runs?where=params.lr:gt:0&where=seed:gt:-1",
    "search": "/api/experiments/sweep/runs?q=sweep&sort=params.lr",
    "plot": "/api/experiments/sweep/plot?x=params.lr&y=metrics.loss&group=params.depth",
    "export": "/api/experiments/sweep/export?format=csv&where=params.lr:gt:0",
    "curves": "/api/experiments/sweep/curves?group=params.depth",
}


@pytest.fixture
def database(pg_server: PostgresServer, tmp_path: Path) -> tuple[str, str]:  # noqa: F811
    """(locator, database name) of a populated PostgresStore."""
    name = pg_server.create_database()
    locator = populate_locator(f"{pg_server.dsn(name)}&file_root={tmp_path / 'files'}")
    return locator, name


@pytest.fixture
def atlas(database: tuple[str, str], tmp_path: Path) -> Iterator[Atlas]:
    with running_atlas(database[0], tmp_path / "atlas.log") as server:
        yield server


def atlas_backends(admin: psycopg.Connection[Any], database: str) -> list[tuple[Any, ...]]:
    """(pid, state, wait_event_type, query) of Atlas's backends in ``database``."""
    return admin.execute(
        "SELECT pid, state, wait_event_type, query FROM pg_stat_activity "
        "WHERE datname = %s AND application_name = 'atlas'",
        [database],
    ).fetchall()


def poll(what: str, check: Any) -> Any:
    deadline = time.monotonic() + POLL_LIMIT
    while not (found := check()):
        assert time.monotonic() < deadline, f"not within {POLL_LIMIT} s: {what}"
        time.sleep(0.05)
    return found


def start_request(atlas: Atlas, path: str) -> socket.socket:
    host, port = atlas.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    return sock


def active_backends(admin: psycopg.Connection[Any], database: str) -> list[tuple[Any, ...]]:
    return [b for b in atlas_backends(admin, database) if b[1] == "active"]


def drop_while_waiting(
    atlas: Atlas, admin: psycopg.Connection[Any], database: str, path: str, pg_log: Path
) -> tuple[int, str]:
    """Send ``path``, wait until its statement waits for the lock, close the socket, wait
    until no Atlas backend is active; (the backend's pid, what PostgreSQL logged meanwhile)."""
    log_start = pg_log.stat().st_size
    sock = start_request(atlas, path)
    waiting = poll(
        f"{path}: Atlas's query waits for the lock",
        lambda: [b for b in atlas_backends(admin, database) if b[1:3] == ("active", "Lock")],
    )
    assert len(waiting) == 1, waiting
    sock.close()
    poll(
        f"{path}: backend {waiting[0][0]} no longer runs the query",
        lambda: all(b[1] != "active" for b in atlas_backends(admin, database)),
    )
    log = poll(
        f"{path}: PostgreSQL logs why the statement ended", lambda: _read_from(pg_log, log_start)
    )
    return int(waiting[0][0]), str(log)


def test_a_disconnected_clients_query_is_cancelled_and_the_pool_serves_on(
    pg_server: PostgresServer,  # noqa: F811
    database: tuple[str, str],
    atlas: Atlas,
) -> None:
    name = database[1]
    with httpx.Client(base_url=atlas.url, timeout=30) as client:
        for path in ROUTES.values():  # schema, fields and caches warm: the lock is what waits
            assert client.get(path).status_code == 200, path
    # more routes than the pool has connections: a slot or connection kept by a cancelled
    # request would leave a later one waiting for the pool, never for PostgreSQL's lock
    assert len(ROUTES) > POOL_SIZE
    with psycopg.connect(pg_server.dsn(name), autocommit=True) as admin:
        with psycopg.connect(pg_server.dsn(name)) as locker:
            locker.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")
            for path in ROUTES.values():
                pid, log = drop_while_waiting(atlas, admin, name, path, pg_server.base / "log")
                assert f"[{pid}] ERROR:  canceling statement due to user request" in log, log
                assert "statement timeout" not in log, log
            locker.rollback()
        with httpx.Client(base_url=atlas.url, timeout=30) as client:
            for path in ROUTES.values():
                assert client.get(path).status_code == 200, path
        backends = atlas_backends(admin, name)
        assert len(backends) <= POOL_SIZE, backends
        assert all(b[1] == "idle" for b in backends), backends  # none left in a transaction


def _read_from(path: Path, offset: int) -> str:
    """The text ``path`` gained after ``offset`` once it holds a full ERROR report."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        text = handle.read()
    return text if "ERROR:" in text and text.endswith("\n") else ""


TAIL = "shape mismatch: see the tensors above"
HEAVY = "/api/experiments/sweep/runs?" + "&".join(
    f"where=error:contains:{TAIL[i:].replace(' ', '+')}" for i in range(MAX_FILTERS)
)


def with_long_errors(store: Store) -> None:
    """The dataset, plus 40 failed runs whose error message dumps a megabyte of tensor."""
    populate(store)
    message = "ValueError: " + "tensor([0.1250, -0.5000, 0.7500]) " * 30_000 + TAIL
    failed = [
        RunRecord("sweep", f"{i:020x}", {"lr": 1.0, "depth": i}, 5000 + i, "failed", error=message)
        for i in range(1000, 1040)
    ]
    for record in failed:
        store.begin_run(record)
    store.write_runs(failed)


def test_a_disconnected_clients_busy_queries_are_all_cancelled(
    pg_server: PostgresServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    name = pg_server.create_database()
    locator = f"{pg_server.dsn(name)}&file_root={tmp_path / 'files'}"
    populate_locator(locator, with_long_errors)
    with (
        running_atlas(locator, tmp_path / "atlas.log") as atlas,
        psycopg.connect(pg_server.dsn(name), autocommit=True) as admin,
    ):
        with httpx.Client(base_url=atlas.url, timeout=30) as client:
            assert client.get("/api/experiments/sweep/runs").status_code == 200
        pg_log = pg_server.base / "log"
        log_start = pg_log.stat().st_size
        sock = start_request(atlas, HEAVY)
        busy = poll(  # the count and the page's ids, side by side
            "Atlas computes on two connections",
            lambda: len(b := active_backends(admin, name)) == 2 and b,
        )
        sock.close()
        poll("no Atlas backend computes", lambda: not active_backends(admin, name))
        log = poll(
            "PostgreSQL logs both cancellations",
            lambda: (t := _read_from(pg_log, log_start)).count("ERROR:") >= 2 and t,
        )
        for pid, *_ in busy:
            assert f"[{pid}] ERROR:  canceling statement due to user request" in log, log
        assert "statement timeout" not in log, log
        with httpx.Client(base_url=atlas.url, timeout=30) as client:
            assert client.get("/api/experiments/sweep/runs").status_code == 200
        assert all(b[1] == "idle" for b in atlas_backends(admin, name))
