"""A few reusable PostgreSQL connections for Atlas's request threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from metalab.core.errors import StoreError

POOL_SIZE = 3
WORK_MEM = "64MB"  # sorts of 100k+ narrow rows stay in memory
# Every Atlas query ends within this: a hostile or unlucky request cannot hold a backend (and
# a pool slot) for long; a request whose HTTP client has gone is cancelled at once
# (`metalab_atlas.clientgone`). Queries of 100k+ runs take < 1 s.
STATEMENT_TIMEOUT = "10s"


CANCEL_TIMEOUT = 3.0


def cancel_of(conn: psycopg.Connection[tuple[Any, ...]]) -> Callable[[], None]:
    """Cancel whatever ``conn``'s backend runs now (PostgreSQL's cancel request, sent on a
    connection of its own); a failure to reach the server is left to ``statement_timeout``."""

    def cancel() -> None:
        try:
            if hasattr(conn, "cancel_safe"):  # psycopg >= 3.2: bounded, no libpq blocking call
                conn.cancel_safe(timeout=CANCEL_TIMEOUT)
            else:
                conn.cancel()
        except psycopg.Error:
            pass

    return cancel


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Pool:
    def __init__(self, dsn: str, size: int = POOL_SIZE) -> None:
        self.dsn = dsn
        self._idle: list[psycopg.Connection[tuple[Any, ...]]] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            conn = psycopg.connect(
                self.dsn, autocommit=True, connect_timeout=3, application_name="atlas"
            )
            conn.execute("SELECT set_config('work_mem', %s, false)", (WORK_MEM,))
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (STATEMENT_TIMEOUT,))
            # psycopg prepares a statement run 5 times; PostgreSQL may then plan it once for
            # any parameters, and a plan fit for one experiment or field can be 100x too slow
            # for another (measured: 0.3 ms vs 70 ms). Plan each execution for its values.
            conn.execute("SELECT set_config('plan_cache_mode', 'force_custom_plan', false)")
        except psycopg.Error as exc:
            raise StoreError(first_line(exc)) from None
        return conn

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A connection, waiting for one to be free."""
        with self._slots, self._checked_out() as conn:
            yield conn

    @contextmanager
    def spare(self) -> Iterator[psycopg.Connection[tuple[Any, ...]] | None]:
        """A connection if one is free right now, else None: never waits, so a thread that
        already holds a connection can ask for a second one without risking a deadlock."""
        if not self._slots.acquire(blocking=False):
            yield None
            return
        try:
            with self._checked_out() as conn:
                yield conn
        finally:
            self._slots.release()

    @contextmanager
    def _checked_out(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
        try:
            yield conn
        finally:
            if not (conn.closed or conn.broken):
                with self._lock:
                    self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
