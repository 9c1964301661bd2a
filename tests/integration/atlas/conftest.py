"""Atlas against a real FileStore and a real PostgresStore, each served by a real process."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from metalab._runstore.file import FileStore
from tests.integration.atlas.dataset import populate, populate_locator
from tests.integration.atlas.server import Atlas, running_atlas
from tests.support.components import postgres_missing, require
from tests.support.postgres import PostgresServer, throwaway_postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    require(postgres_missing())
    with throwaway_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def file_locator(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("filestore") / "runs"
    populate(FileStore(root))
    return str(root)


@pytest.fixture(scope="session")
def postgres_locator(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    files = tmp_path_factory.mktemp("pgstore") / "files"
    locator = f"{pg_server.dsn(pg_server.create_database())}&file_root={files}"
    return populate_locator(locator)


@pytest.fixture(scope="session", params=["file", "postgres"])
def atlas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Atlas]:
    """One Atlas process per store kind, shared by the read-only API tests."""
    locator = request.getfixturevalue(f"{request.param}_locator")
    log = tmp_path_factory.mktemp("atlas") / "atlas.log"
    with running_atlas(locator, log) as server:
        yield server


@pytest.fixture
def client(atlas: Atlas) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=atlas.url, timeout=10) as http:
        yield http
