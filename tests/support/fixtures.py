"""Fixtures shared across test packages (registered by the root conftest as a plugin)."""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.components import postgres_missing, require
from tests.support.postgres import PostgresServer, throwaway_postgres

INTRUDER = "metalab-intruder"


@pytest.fixture(scope="session")
def intruder() -> str:
    """A second local account (created with ``useradd`` when the suite runs as root)."""
    try:
        pwd.getpwnam(INTRUDER)
        return INTRUDER
    except KeyError:
        pass
    if os.geteuid() != 0:
        require("the security suite needs root to create a second local account")
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", INTRUDER],
        check=True,
        capture_output=True,
    )
    return INTRUDER


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session."""
    require(postgres_missing())
    with throwaway_postgres() as server:
        yield server
