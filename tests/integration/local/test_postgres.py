"""Real PostgreSQL: start, probe, stop, restart, failures, and secrets hygiene."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from metalab.errors import ProvisioningFailed
from metalab_orchestrator.runtime.pg_handle import PostgresHandle, PostgresSettings
from metalab_orchestrator.runtime.postgres import probe_postgres, start_postgres, stop_postgres
from metalab_orchestrator.runtime.process import ProcessRecord, is_alive, wait_for
from tests.support.postgres import connect_handle

pytestmark = pytest.mark.postgres


def start(settings: PostgresSettings, work: Path, servers: list[PostgresHandle]) -> PostgresHandle:
    handle = start_postgres(settings, data_dir=work / "pgdata", run_dir=work / "run")
    servers.append(handle)
    return handle


def test_start_probe_stop_restart_keeps_data(work, servers, run_as):
    settings = PostgresSettings(run_as=run_as)
    handle = start(settings, work, servers)
    assert probe_postgres(handle).healthy
    with connect_handle(handle) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (42)")
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert "metalab" in names and "metalab_spare" not in names  # the spare was renamed
    stop_postgres(handle)
    assert not is_alive(ProcessRecord(handle.pid, handle.start_time, handle.pid))
    assert not probe_postgres(handle).healthy
    stop_postgres(handle)  # idempotent

    again = start(settings, work, servers)
    with connect_handle(again) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]
    restart_log = again.log_path.read_text().rsplit("starting PostgreSQL", 1)[1]
    assert "database system was shut down at" in restart_log
    assert "automatic recovery" not in restart_log
    assert "not properly shut down" not in restart_log


def test_kill_9_of_the_postmaster_makes_probe_unhealthy(work, servers, run_as):
    handle = start(PostgresSettings(run_as=run_as), work, servers)
    os.kill(handle.pid, signal.SIGKILL)
    record = ProcessRecord(handle.pid, handle.start_time, handle.pid)
    assert wait_for(lambda: not is_alive(record), 5.0)
    probe = probe_postgres(handle)
    assert not probe.healthy
    assert str(handle.pid) in probe.detail
    stop_postgres(handle)  # already gone: returns
    again = start(PostgresSettings(run_as=run_as), work, servers)  # recovers and starts
    assert probe_postgres(again).healthy


def test_a_socket_lock_naming_a_recycled_pid_does_not_stop_the_next_start(work, servers, run_as):
    """As after a container restart: the dead server's socket lock names a pid that now is
    some other live process; the same port planned again still starts."""
    handle = start(PostgresSettings(run_as=run_as), work, servers)
    port = handle.port
    os.kill(handle.pid, signal.SIGKILL)
    record = ProcessRecord(handle.pid, handle.start_time, handle.pid)
    assert wait_for(lambda: not is_alive(record), 5.0)
    lock = work / "run" / f".s.PGSQL.{port}.lock"
    sleep = ["sleep", "60"]  # a live process of the server's account that is no PostgreSQL
    if run_as:
        sleep = ["setpriv", f"--reuid={run_as}", f"--regid={run_as}", "--init-groups", *sleep]
    other = subprocess.Popen(sleep)
    try:
        text = lock.read_text().split("\n", 1)
        lock.write_text(f"{other.pid}\n{text[1]}")
        again = start(PostgresSettings(run_as=run_as, port=port), work, servers)
        assert again.port == port and probe_postgres(again).healthy
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_busy_configured_port_fails_at_once(work, servers, run_as):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ProvisioningFailed) as info:
            start(PostgresSettings(run_as=run_as, port=port), work, servers)
        elapsed = time.monotonic() - started
    assert str(info.value) == f"port {port} on 127.0.0.1 is already in use (services.postgres.port)"
    assert elapsed < PostgresSettings().start_timeout / 3  # an error, not a wait


def test_configured_free_port_is_used(work, servers, run_as):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handle = start(PostgresSettings(run_as=run_as, port=port), work, servers)
    assert handle.port == port and probe_postgres(handle).healthy


def test_missing_binaries_are_a_clear_error(work, servers, run_as, monkeypatch):
    monkeypatch.setenv("METALAB_PG_BIN", "/nonexistent")
    with pytest.raises(ProvisioningFailed, match="^METALAB_PG_BIN=/nonexistent does not contain"):
        start(PostgresSettings(run_as=run_as), work, servers)


@pytest.mark.root(reason="run_as only applies to root")
def test_unknown_run_as_user_is_a_clear_error(work, servers):
    with pytest.raises(ProvisioningFailed, match="user 'no-such-user-x' does not exist"):
        start(PostgresSettings(run_as="no-such-user-x"), work, servers)


@pytest.mark.root(reason="only root needs run_as")
def test_root_without_run_as_is_refused(work, servers):
    with pytest.raises(ProvisioningFailed, match='set services.postgres.run_as = "<user>"'):
        start(PostgresSettings(), work, servers)


@pytest.mark.root(reason="needs a directory run_as cannot enter")
def test_unreachable_data_dir_names_the_directory(work, servers, run_as):
    private = work / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(ProvisioningFailed, match=f"directory {private} is not accessible"):
        start_postgres(
            PostgresSettings(run_as=run_as), data_dir=private / "pgdata", run_dir=work / "run"
        )


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_socket() and needle in path.read_bytes():
            found.append(path)
    return found


def test_password_never_leaks(work, servers, run_as):
    old = os.umask(0)  # secrets must be 0600 whatever the umask
    try:
        handle = start(PostgresSettings(run_as=run_as), work, servers)
    finally:
        os.umask(old)
    password = handle.password_file.read_text()
    assert len(password) >= 32
    with connect_handle(handle) as conn:  # leave statements and failures in the log
        conn.execute("SELECT 1")
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM missing_table")
    for secret in (handle.password_file, handle.passfile):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    assert password not in ps.stdout
    assert password not in handle.locator("/runs")
    holders = set(_files_containing(work, password.encode()))
    assert holders == {handle.password_file, handle.passfile}
    assert "ALTER ROLE" not in handle.log_path.read_text()
    env = Path(f"/proc/{handle.pid}/environ").read_bytes()
    assert password.encode() not in env
    assert stat.S_IMODE((work / "run").stat().st_mode) == 0o700
    assert stat.S_IMODE((work / "pgdata").stat().st_mode) == 0o700


def test_configured_password_and_auth_method(work, servers, run_as):
    settings = PostgresSettings(run_as=run_as, password="p:w\\x y", auth_method="md5")
    handle = start(settings, work, servers)
    assert probe_postgres(handle).healthy
    with psycopg.connect(
        host=handle.host,
        port=handle.port,
        dbname=handle.database,
        user=handle.user,
        password="p:w\\x y",
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("metalab",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host=handle.host,
            port=handle.port,
            dbname=handle.database,
            user=handle.user,
            password="wrong",
        )


def test_other_database_on_an_existing_data_dir_is_created(work, servers, run_as):
    first = start(PostgresSettings(run_as=run_as), work, servers)
    stop_postgres(first)
    handle = start(PostgresSettings(run_as=run_as, database="other"), work, servers)
    with connect_handle(handle) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert {"metalab", "other"} <= names


def test_second_start_on_a_running_data_dir_is_refused(work, servers, run_as):
    handle = start(PostgresSettings(run_as=run_as), work, servers)
    with pytest.raises(ProvisioningFailed, match=f"already running on {handle.data_dir}"):
        start(PostgresSettings(run_as=run_as), work, servers)
    assert probe_postgres(handle).healthy


@pytest.mark.root(reason="needs a data dir owned by another user")
def test_data_dir_owned_by_someone_else_is_a_clear_error(work, servers, run_as):
    first = start(PostgresSettings(run_as=run_as), work, servers)
    stop_postgres(first)
    os.chown(first.data_dir, 0, 0)
    with pytest.raises(ProvisioningFailed, match="belongs to uid 0, but PostgreSQL would run as"):
        start(PostgresSettings(run_as=run_as), work, servers)


def test_names_that_need_quoting(work, servers, run_as):
    """Case, '-' and '.' survive only quoted: the set-up renames the spare to exactly this."""
    settings = PostgresSettings(run_as=run_as, user="Ops.Team-1", database="My-DB.x")
    handle = start(settings, work, servers)
    assert probe_postgres(handle).healthy
    with connect_handle(handle) as conn:
        row = conn.execute("SELECT current_user, current_database()").fetchone()
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert row == ("Ops.Team-1", "My-DB.x")
    assert "metalab_spare" not in names


def test_statement_logging_never_sees_the_verifier(work, servers, run_as):
    """With every statement logged by the server's configuration, the set-up's ALTER ROLE
    (and the verifier in it) still stays out of the log: the session switches logging off."""
    first = start(PostgresSettings(run_as=run_as), work, servers)
    stop_postgres(first)
    with open(first.data_dir / "postgresql.conf", "a") as conf:
        conf.write("log_statement = 'all'\nlog_min_duration_statement = 0\n")
    handle = start(PostgresSettings(run_as=run_as), work, servers)
    with connect_handle(handle) as conn:
        conn.execute("SELECT 'logged-marker'")
    text = handle.log_path.read_text()
    assert "logged-marker" in text  # the configuration does log statements
    assert "ALTER ROLE" not in text and "SCRAM-SHA-256$" not in text


_NO_PSYCOPG = """
import importlib.util, json, sys
from pathlib import Path
from metalab_orchestrator.runtime.pg_handle import PostgresSettings
from metalab_orchestrator.runtime.postgres import probe_postgres, start_postgres, stop_postgres

work = Path(sys.argv[1])
settings = PostgresSettings(run_as=sys.argv[2] or None)
handle = start_postgres(settings, data_dir=work / "pgdata", run_dir=work / "run")
try:
    healthy = probe_postgres(handle).healthy
    loaded = sorted(name for name in sys.modules if name.startswith("psycopg"))
finally:
    stop_postgres(handle)
available = importlib.util.find_spec("psycopg") is not None
print(json.dumps({"healthy": healthy, "loaded": loaded, "available": available}))
"""


def test_start_postgres_imports_no_psycopg(work, run_as):
    """A cold start (fresh data directory) and its probe never import psycopg, which is
    installed: its import would cost ~90 ms of CPU during a cold `services up`."""
    assert not (work / "pgdata").exists()
    result = subprocess.run(
        [sys.executable, "-c", _NO_PSYCOPG, str(work), run_as or ""],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome == {"healthy": True, "loaded": [], "available": True}


def test_a_failed_set_up_is_one_line_with_the_log_tail(work, servers, run_as):
    """The data directory's superuser is not the configured user: peer authentication maps
    the OS account to a role that does not exist; the start fails with the server's message
    in one line, the log's tail attached, and no server left running."""
    first = start(PostgresSettings(run_as=run_as), work, servers)
    stop_postgres(first)
    with pytest.raises(ProvisioningFailed) as info:
        start(PostgresSettings(run_as=run_as, user="someone_else"), work, servers)
    message = str(info.value)
    assert message == (
        f'PostgreSQL set-up over {work / "run"} failed: FATAL:  role "someone_else" does not exist'
    )
    assert 'role "someone_else" does not exist' in info.value.log_tail
    assert not (first.data_dir / "postmaster.pid").exists()  # stopped again
