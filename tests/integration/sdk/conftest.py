"""Real components for the SDK integration tests: a throwaway PostgreSQL and the local SLURM.

A missing component skips with the reason; with METALAB_CI=1 it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.sdk.pgserver import PostgresServer, postgres_missing, throwaway_postgres


def require(problem: str | None) -> None:
    if problem is None:
        return
    if os.environ.get("METALAB_CI") == "1":
        pytest.fail(f"METALAB_CI=1 and {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("METALAB") and name != "METALAB_CI":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user settings file
    monkeypatch.setenv("METALAB_HOME", str(tmp_path / "metalab-home"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


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


def _slurm_missing() -> str | None:
    for tool in ("sbatch", "squeue", "scancel", "scontrol", "sinfo"):
        if shutil.which(tool) is None:
            return f"SLURM missing: no {tool} (scripts/infra/start-slurm.sh)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "SLURM not answering: scontrol ping timed out"
    if ping.returncode != 0 or "UP" not in ping.stdout:
        where = os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")
        return f"SLURM not running at {where} (scripts/infra/start-slurm.sh)"
    return None


@pytest.fixture(scope="session")
def slurm_partition() -> str:
    require(_slurm_missing())
    out = subprocess.run(
        ["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True, check=True
    ).stdout.split()
    default = [p.rstrip("*") for p in out if p.endswith("*")]
    return default[0] if default else out[0]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory SLURM tasks can reach (tmp_path would do as root; keep it explicit)."""
    path = Path(tempfile.mkdtemp(prefix="metalab-sdk-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
