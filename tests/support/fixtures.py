"""Fixtures shared across test packages (registered by the root conftest as a plugin)."""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import build_network, docker_problem
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


ROOT = Path(__file__).resolve().parents[2]
IMAGES = {
    "metalab-postgres:latest": "scripts/build-postgres-image.sh",
    "metalab:latest": "scripts/build-image.sh",
}


@pytest.fixture(scope="session")
def images() -> None:
    """Skip (fail under METALAB_CI=1) without Docker; build the images (no registry), so an
    image left by an older checkout is never what the tests run."""
    require(docker_problem())
    for image, script in IMAGES.items():
        built = subprocess.run(
            ["bash", script, image],
            cwd=ROOT,
            env={**os.environ, **build_network()},
            capture_output=True,
            text=True,
            timeout=900,
        )
        tail = built.stderr.strip().splitlines()[-1:] or ["no output"]
        require(None if built.returncode == 0 else f"{script} failed: {tail[0]}")
