"""Real components for the SDK integration tests: a throwaway PostgreSQL and the local SLURM.

A missing component skips with the reason; with METALAB_CI=1 it fails instead.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.components import require
from tests.support.postgres import PostgresServer, postgres_missing, throwaway_postgres


@pytest.fixture(autouse=True)
def in_work_dir(work_dir: Path) -> Path:
    """Every test here runs in an empty directory."""
    return work_dir


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    require(postgres_missing())
    pytest.importorskip("psycopg")
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def pg_locator(postgres_server: PostgresServer, tmp_path: Path) -> str:
    """A fresh database; the locator carries passfile= (no password) and a file_root."""
    database = postgres_server.create_database()
    return f"{postgres_server.dsn(database)}&file_root={tmp_path / 'files'}"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory SLURM tasks can reach (tmp_path would do as root; keep it explicit)."""
    path = Path(tempfile.mkdtemp(prefix="metalab-sdk-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
