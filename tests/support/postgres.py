"""A throwaway PostgreSQL server for tests and benchmarks (no pytest needed).

PostgreSQL refuses to run as root, so as root the server runs as the unprivileged user
``metalab`` from a directory under /tmp; clients authenticate with a password from a passfile.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.components import PG_BIN, PG_USER, postgres_missing
from tests.support.ports import free_port

if TYPE_CHECKING:
    import psycopg

    from metalab_orchestrator.runtime.pg_handle import PostgresHandle

__all__ = ["PostgresServer", "connect_handle", "postgres_missing", "throwaway_postgres"]


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


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[PostgresServer]:
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
    port = free_port()
    subprocess.run(
        _as_pg_user(
            [
                str(PG_BIN / "initdb"),
                "--no-sync",
                "--locale=C",  # what `services up` provisions (pg_template.py)
                "--encoding=UTF8",
                "-D",
                str(data),
                "-U",
                "metalab",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
            ]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_pg_user(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(base / "log"),
                "-o",
                options,
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    passfile = base / "client.pgpass"
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"127.0.0.1:{port}:*:metalab:{password}\n")
    try:
        yield PostgresServer(base, port, password, passfile)
    finally:
        subprocess.run(
            _as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def connect_handle(handle: PostgresHandle) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit psycopg connection to a server `start_postgres` started, over TCP with
    its passfile (what a store does)."""
    import psycopg

    return psycopg.connect(
        host=handle.host,
        port=handle.port,
        dbname=handle.database,
        user=handle.user,
        passfile=str(handle.passfile),
        autocommit=True,
    )
