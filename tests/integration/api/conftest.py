from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.components import postgres_missing, require
from tests.support.postgres import PostgresServer, throwaway_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    require(postgres_missing())
    pytest.importorskip("psycopg_pool")
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer) -> str:
    """A fresh database's URI; it carries passfile= (no password)."""
    return postgres_server.dsn(postgres_server.create_database())
