from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, postgres_missing, throwaway_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    problem = postgres_missing()
    if problem is not None:
        if os.environ.get("METALAB_CI") == "1":
            pytest.fail(f"METALAB_CI=1 and {problem}", pytrace=False)
        pytest.skip(problem)
    pytest.importorskip("psycopg_pool")
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer) -> str:
    """A fresh database's URI; it carries passfile= (no password)."""
    return postgres_server.dsn(postgres_server.create_database())
