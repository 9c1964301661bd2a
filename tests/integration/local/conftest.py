"""Fixtures for the local runtime: world-traversable work dirs under /tmp, a shared template
cache, a run_as account when we are root, and servers that are always stopped."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from metalab.errors import ProvisioningFailed
from metalab_orchestrator.runtime.pg_binaries import find_pg_binaries
from metalab_orchestrator.runtime.pg_handle import PostgresHandle
from metalab_orchestrator.runtime.postgres import stop_postgres
from tests.support.components import require
from tests.support.pg_spare import wait_for_refills

RUN_AS = "metalab"


def _missing(reason: str) -> None:
    require(reason)


@pytest.fixture(scope="session")
def pg_available() -> None:
    try:
        find_pg_binaries()
    except ProvisioningFailed as exc:
        _missing(str(exc))


@pytest.fixture(scope="session")
def run_as() -> str | None:
    """The account PostgreSQL runs as: ``metalab`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        _missing(f"running as root needs a user {RUN_AS!r} (useradd --system {RUN_AS})")
    return RUN_AS


def _public_tmpdir(prefix: str) -> Path:
    """A 0755 directory under /tmp (pytest's tmp_path sits under /root when HOME is /root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def template_root() -> Iterator[Path]:
    path = _public_tmpdir("metalab-pg-templates-")
    yield path
    assert wait_for_refills(path) == []  # a start's spare refill exits on its own
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def work(
    template_root: Path, pg_available: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A per-test directory; templates come from the session cache."""
    monkeypatch.setenv("METALAB_PG_TEMPLATE_DIR", str(template_root))
    path = _public_tmpdir("metalab-pg-test-")
    yield path
    assert wait_for_refills(path) == []
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def servers() -> Iterator[list[PostgresHandle]]:
    """Append every started handle; all are stopped at teardown."""
    started: list[PostgresHandle] = []
    yield started
    for handle in started:
        stop_postgres(handle, grace=2.0)
