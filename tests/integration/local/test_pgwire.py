"""The stdlib PostgreSQL probe against a real server: it answers as psql does, case by case."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from metalab_orchestrator.pgscram import saslprep
from metalab_orchestrator.pgwire import passfile_password
from metalab_orchestrator.plugins.postgres import check_postgres
from tests.support.postgres import PostgresServer, throwaway_postgres

pytestmark = pytest.mark.postgres

# user → (pg_hba method, password); "uni" needs SASLprep (fullwidth letters, a no-break space).
USERS = {
    "md5user": ("md5", "md5-secret"),
    "pwuser": ("password", "clear-secret"),
    "trustuser": ("trust", "unused"),
    "uni": ("scram-sha-256", "ｐａｓｓ\u00a0wörd"),
}


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with throwaway_postgres() as pg:
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            for user, (method, password) in USERS.items():
                encryption = "md5" if method == "md5" else "scram-sha-256"
                conn.execute(f"SET password_encryption = '{encryption}'")
                conn.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
            hba = pg.base / "data" / "pg_hba.conf"
            rules = "".join(
                f"host all {user} 127.0.0.1/32 {method}\n" for user, (method, _) in USERS.items()
            )
            hba.write_text(rules + hba.read_text())
            conn.execute("SELECT pg_reload_conf()")
        yield pg


def passfile(tmp: Path, line: str, mode: int = 0o600) -> Path:
    path = tmp / "client.pgpass"
    path.write_text(line + "\n")
    path.chmod(mode)
    return path


def psql_ok(port: int, user: str, pgpass: Path) -> bool:
    psql = shutil.which("psql") or "/usr/lib/postgresql/15/bin/psql"
    result = subprocess.run(
        [psql, "-XAtqw", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", "postgres"]
        + ["-c", "SELECT 1"],
        env={"PATH": os.environ["PATH"], "PGPASSFILE": str(pgpass), "PGCONNECT_TIMEOUT": "2"},
        capture_output=True,
        text=True,
    )
    return result.returncode == 0 and result.stdout.strip() == "1"


CASES = [
    ("metalab", None, True, ""),  # the server's own passfile: SCRAM
    ("metalab", "wrong", False, 'FATAL:  password authentication failed for user "metalab"'),
    ("md5user", None, True, ""),
    ("md5user", "wrong", False, 'FATAL:  password authentication failed for user "md5user"'),
    ("pwuser", None, True, ""),
    ("trustuser", "", True, ""),
    ("uni", None, True, ""),
    ("nobody", "x", False, 'FATAL:  password authentication failed for user "nobody"'),
]


@pytest.mark.parametrize(("user", "password", "healthy", "detail"), CASES)
def test_probe_agrees_with_psql(
    server: PostgresServer,
    open_tmp: Path,
    user: str,
    password: str | None,
    healthy: bool,
    detail: str,
) -> None:
    secret = server.password if user == "metalab" else USERS.get(user, ("", ""))[1]
    line = f"127.0.0.1:{server.port}:*:{user}:{secret if password is None else password}"
    pgpass = passfile(open_tmp, line)
    got = check_postgres("127.0.0.1", server.port, user, "postgres", str(pgpass))
    assert got == (healthy, detail)
    assert psql_ok(server.port, user, pgpass) == healthy


def test_no_password_and_no_server(server: PostgresServer, open_tmp: Path) -> None:
    missing = str(open_tmp / "none.pgpass")
    assert check_postgres("127.0.0.1", server.port, "metalab", "postgres", missing) == (
        False,
        "fe_sendauth: no password supplied",
    )
    readable = passfile(open_tmp, f"*:*:*:*:{server.password}", mode=0o644)
    verdict = check_postgres("127.0.0.1", server.port, "metalab", "postgres", str(readable))
    assert verdict == (False, "fe_sendauth: no password supplied")  # libpq ignores it too
    ok, detail = check_postgres("127.0.0.1", 1, "metalab", "postgres", missing)
    assert not ok and detail.startswith("connection failed: ")


def test_missing_database_is_reported(server: PostgresServer) -> None:
    ok, detail = check_postgres(
        "127.0.0.1", server.port, "metalab", "nosuchdb", str(server.passfile)
    )
    assert (ok, detail) == (False, 'FATAL:  database "nosuchdb" does not exist')


def test_passfile_rules(open_tmp: Path) -> None:
    path = passfile(
        open_tmp,
        "# comment\notherhost:5432:*:u:no\n127.0.0.1:5432:db:u:a\\:b\\\\c\n*:*:*:*:fallback",
    )
    assert passfile_password(path, "127.0.0.1", 5432, "db", "u") == "a:b\\c"
    assert passfile_password(path, "127.0.0.1", 5433, "db", "u") == "fallback"
    assert passfile_password(open_tmp / "absent", "h", 1, "d", "u") is None


def test_saslprep() -> None:
    assert saslprep("plain ascii") == "plain ascii"
    assert saslprep("ｐａｓｓ\u00a0wörd") == "pass wörd"
    assert saslprep("a\u00adb") == "ab"  # mapped to nothing
    assert saslprep("bad\u0007") == "bad\u0007"  # ASCII: unchanged
    assert saslprep("x\u200e\u0627") == "x\u200e\u0627"  # prohibited: used as it is
