"""Real components for the SDK integration tests: a throwaway PostgreSQL and the local SLURM.

A missing component skips with the reason; with METALAB_CI=1 it fails instead.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "metalab"


def require(problem: str | None) -> None:
    if problem is None:
        return
    if os.environ.get("METALAB_CI") == "1":
        pytest.fail(f"METALAB_CI=1 and {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("METALAB") and name != "METALAB_CI":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("METALAB_HOME", str(tmp_path / "metalab-home"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_missing() -> str | None:
    for name in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / name).exists():
            return f"PostgreSQL missing: no {PG_BIN / name} (apt-get install -y postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"no user {PG_USER!r} to run PostgreSQL as (useradd --system {PG_USER})"
    return None


def _as_pg_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *argv] if os.geteuid() == 0 else argv


class PostgresServer:
    def __init__(self, base: Path, port: int, password: str, passfile: Path) -> None:
        self.base, self.port, self.password, self.passfile = base, port, password, passfile

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://metalab@127.0.0.1:{self.port}/{database}?passfile={self.passfile}"

    def create_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # name is ours: t_ + hex
        return name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    require(_postgres_missing())
    pytest.importorskip("psycopg")
    base = Path(tempfile.mkdtemp(prefix="metalab-pg-", dir="/tmp"))
    base.chmod(0o755)
    data, sock = base / "data", base / "sock"
    password = secrets.token_urlsafe(16)
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, PG_USER)
        shutil.chown(sock, PG_USER)
        shutil.chown(pwfile, PG_USER)
    pwfile.chmod(0o600)
    port = _free_port()
    subprocess.run(_as_pg_user([str(PG_BIN / "initdb"), "--no-sync", "-D", str(data), "-U",
                                "metalab", "--auth=scram-sha-256", f"--pwfile={pwfile}"]),
                   check=True, capture_output=True)
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l",
                                str(base / "log"), "-o", options, "start"]),
                   check=True, capture_output=True)
    passfile = base / "client.pgpass"
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"127.0.0.1:{port}:*:metalab:{password}\n")
    try:
        yield PostgresServer(base, port, password, passfile)
    finally:
        subprocess.run(_as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast",
                                    "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_locator(postgres_server, tmp_path) -> str:
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
        return "SLURM not running (scripts/infra/start-slurm.sh)"
    return None


@pytest.fixture(scope="session")
def slurm_partition() -> str:
    require(_slurm_missing())
    out = subprocess.run(["sinfo", "--noheader", "--format=%P"], capture_output=True,
                         text=True, check=True).stdout.split()
    default = [p.rstrip("*") for p in out if p.endswith("*")]
    return default[0] if default else out[0]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory SLURM tasks can reach (tmp_path would do as root; keep it explicit)."""
    path = Path(tempfile.mkdtemp(prefix="metalab-sdk-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
