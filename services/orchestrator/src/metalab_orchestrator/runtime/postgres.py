"""Start, probe and stop a PostgreSQL server on this machine.

Layout: ``data_dir`` (0700) holds the cluster: on first start a spare copy of a cached template
renamed into place (`pg_spare`), else a copy made then.
``run_dir`` (0700) holds the Unix socket, ``postgres.password`` (the password, 0600),
``postgres.pgpass`` (a libpq password file, 0600) and ``postgres.log``.

How the password is set without leaking: the server gets ``-k run_dir`` and a pg_hba whose
only ``local`` rule is ``peer`` mapped (pg_ident) from the invoking OS account and the server's
account to the database user; the kernel vouches for the peer, the socket directory is 0700, and
nobody else can reach it. Over that socket we compute a SCRAM verifier client-side
(`pgscram.scram_verifier`, built as libpq's ``PQencryptPasswordConn`` builds it) and send
``ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'`` with ``log_statement`` and
``log_min_error_statement`` switched off for the session: the password itself never leaves this
process except into the 0600 files, and even a logged statement would show only the salted
verifier. No trust rule, no reload window. TCP (127.0.0.1 only) uses
``settings.auth_method``; a SCRAM verifier also serves ``md5`` and ``password``.

The server is the ``postgres`` binary spawned detached (``process.spawn_detached``), not
``pg_ctl start -w``: pg_ctl adds a shell and polls every 100 ms, and cannot switch users.
Readiness is postmaster.pid's ``ready`` status, then an authenticated ``SELECT 1`` over TCP.
The set-up and the probe speak the wire protocol with the standard library (`pgwire`): no
psycopg import (~90 ms of CPU) on the way to a cold ``services up``.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from metalab.core.errors import ProvisioningFailed
from metalab_orchestrator.pgscram import DEFAULT_ITERATIONS, scram_verifier
from metalab_orchestrator.pgwire import Session, WireError, connect_unix, quote_ident, quote_literal
from metalab_orchestrator.plugins.postgres import check_postgres
from metalab_server.pidfd import group_members, signal_verified

from .accounts import Account, require_traversable, resolve_service_account
from .pg_binaries import PgBinaries, find_pg_binaries
from .pg_handle import PostgresHandle, PostgresSettings
from .pg_layout import PASSFILE_NAME, PASSWORD_NAME, server_owner, server_pid_file
from .pg_spare import make_data_dir, start_refill
from .pg_template import SPARE_DATABASE, ensure_template, make_dirs
from .ports import ensure_port_free, free_port
from .process import (
    ProcessRecord,
    is_alive,
    is_ours,
    read_proc_stat,
    spawn_detached,
    tail,
    terminate_group,
    wait_for,
)
from .secret_files import pgpass_line, read_secret, write_secret

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
PORT_ATTEMPTS = 3
READY_POLL_MAX = 0.02  # a start-up poll is a file read or one SELECT 1: notice ready within 20 ms
SOCKET_PATH_MAX = 107  # sun_path minus the terminating NUL
SETUP_TIMEOUT_MIN = 2.0  # the set-up gets this long even when start_timeout is nearly spent
_PORT_CLASH = (
    "Address already in use",
    "could not create any TCP/IP sockets",
    "could not create lock file",
)


@dataclass(frozen=True)
class Probe:
    """Result of a health check."""

    healthy: bool
    detail: str


def _record(handle: PostgresHandle) -> ProcessRecord:
    return ProcessRecord(pid=handle.pid, start_time=handle.start_time, pgid=handle.pid)


def probe_postgres(handle: PostgresHandle) -> Probe:
    """Authenticated ``SELECT 1`` over TCP (`pgwire`), the password from the handle's passfile."""
    if not is_ours(_record(handle), server_owner(handle.data_dir)):
        return Probe(False, f"postmaster pid {handle.pid} is not running")
    started = time.monotonic()
    healthy, detail = check_postgres(
        handle.host, handle.port, handle.user, handle.database, str(handle.passfile)
    )
    where = f"SELECT 1 on {handle.host}:{handle.port}"
    if not healthy:
        return Probe(False, f"{where} failed: {detail}")
    return Probe(True, f"{where} ok in {(time.monotonic() - started) * 1000:.1f} ms")


def stop_postgres(handle: PostgresHandle, grace: float = 5.0) -> None:
    """Fast shutdown (SIGINT to the postmaster), SIGKILL to its group after ``grace``.

    Returns when every server process is gone; does nothing when it is already stopped.
    Raises `NotOurProcess` when the recorded pid is not this data directory's server.
    """
    terminate_group(
        _record(handle),
        grace,
        first_signal=signal.SIGINT,
        leader_only=True,
        owner=server_owner(handle.data_dir),
    )


def _hba(auth_method: str, listen: str = HOST) -> str:
    remote = (
        ""
        if listen == HOST
        else (f"host  all all 0.0.0.0/0 {auth_method}\nhost  all all ::/0 {auth_method}\n")
    )
    return (
        "# Written by metalab at every start; edits are overwritten.\n"
        "local all all peer map=metalab\n"
        f"host  all all {HOST}/32 {auth_method}\n"
    ) + remote


def _ident(os_users: list[str], db_user: str) -> str:
    lines = [f'metalab "{name}" "{db_user}"\n' for name in dict.fromkeys(os_users)]
    return "# Written by metalab at every start; edits are overwritten.\n" + "".join(lines)


def _write_owned(path: Path, content: str, owner: Account | None) -> None:
    """Replace a server config file (not secret, but private: 0600 like initdb's)."""
    write_secret(path, content, owner=owner)


def prepare_run_dir(run_dir: Path, owner: Account | None) -> None:
    """The run directory (socket, secrets, log): 0700, handed to ``owner`` when given."""
    make_dirs(run_dir.parent)
    try:
        run_dir.mkdir(mode=0o700)
    except FileExistsError:
        os.chmod(run_dir, 0o700)
    if owner is not None:
        os.chown(run_dir, owner.uid, owner.gid)


def require_owner(data_dir: Path, account: Account) -> None:
    """A one-line error unless ``account`` owns ``data_dir`` (PostgreSQL refuses otherwise)."""
    owner = data_dir.stat().st_uid
    if owner != account.uid:
        raise ProvisioningFailed(
            f"data directory {data_dir} belongs to uid {owner}, but PostgreSQL would run as "
            f"{account.name} (uid {account.uid}); chown it or set services.postgres.run_as"
        )


def server_password(settings: PostgresSettings, password_file: Path) -> str:
    """The configured password, else the one kept in ``password_file``, else a new one."""
    if settings.password is not None:
        return settings.password
    return read_secret(password_file) or secrets.token_urlsafe(32)


def _clear_stale_server(data_dir: Path) -> None:
    """Refuse a data dir whose server still runs; kill backends orphaned by a dead one."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return

    def in_data_dir(p: int) -> bool:
        try:
            return Path(f"/proc/{p}/cwd").resolve() == data_dir.resolve()
        except OSError:
            return False

    stat = read_proc_stat(pid)
    if stat is not None and stat.state not in ("Z", "X") and in_data_dir(pid):
        raise ProvisioningFailed(
            f"a PostgreSQL server (pid {pid}) is already running on {data_dir}; stop it first"
        )
    uids = server_owner(data_dir).uids

    def leftovers() -> list[int]:
        return [p for p in group_members(pid) if in_data_dir(p) and _uid_of(p) in uids]

    def leftover(p: int) -> bool:
        member = read_proc_stat(p)
        return member is not None and member.pgid == pid and in_data_dir(p) and _uid_of(p) in uids

    for p in leftovers():
        signal_verified(p, signal.SIGKILL, leftover)  # checked again once its pidfd is open
    if not wait_for(lambda: not leftovers(), 10.0):
        raise ProvisioningFailed(f"processes of a dead PostgreSQL server still use {data_dir}")
    # A killed postmaster may linger as a zombie until its new parent reaps it, and PostgreSQL
    # takes a pid that still answers kill(0) for a live server: the lock file is stale, drop it.
    (data_dir / "postmaster.pid").unlink(missing_ok=True)


def _clear_stale_socket_locks(run_dir: Path, data_dir: Path) -> None:
    """Remove ``.s.PGSQL.PORT.lock`` files no server of ``data_dir`` holds.

    PostgreSQL refuses a socket lock whose pid is alive, whatever that process is: after a
    container restart (same run directory, a fresh pid namespace) the dead server's pid is
    soon some other process's, and the same port planned again would fail at start-up.
    """
    for lock in run_dir.glob(".s.PGSQL.*.lock"):
        try:
            pid = int(lock.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            pid = 0
        try:
            held = pid > 0 and Path(f"/proc/{pid}/cwd").resolve() == data_dir.resolve()
        except OSError:
            held = False
        if not held:
            lock.unlink(missing_ok=True)
            Path(str(lock).removesuffix(".lock")).unlink(missing_ok=True)


def _uid_of(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _server_argv(
    bins: PgBinaries, data_dir: Path, socket_dir: Path, port: int, listen: str = HOST
) -> list[str]:
    return [
        str(bins.postgres),
        "-D",
        str(data_dir),
        "-k",
        str(socket_dir),
        "-h",
        listen,
        "-p",
        str(port),
        "-c",
        "unix_socket_permissions=0700",
        "-c",
        "logging_collector=off",
    ]


def _pm_ready(data_dir: Path, pid: int) -> bool:
    """Whether postmaster.pid says ``ready`` and belongs to ``pid`` (not a killed server's)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return False
    return len(lines) > 7 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"


def _ready_or_dead(record: ProcessRecord, data_dir: Path) -> Callable[[], bool]:
    return lambda: not is_alive(record) or _pm_ready(data_dir, record.pid)


def _new_log_text(log_path: Path, offset: int) -> str:
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _bootstrap(
    settings: PostgresSettings, socket_dir: Path, port: int, password: str, timeout: float
) -> None:
    """Over the peer-authenticated socket: set the password (verifier only), create the DB.

    Raises `WireError` (a `ServerError` carries the server's message)."""
    timeout = max(SETUP_TIMEOUT_MIN, timeout)
    sock = connect_unix(socket_dir, port, timeout)
    with Session.open(
        sock, settings.user, "postgres", timeout=timeout, application_name="metalab-setup"
    ) as db:
        db.execute(
            "SET log_statement = 'none'; SET log_min_error_statement = 'panic'; "
            "SET log_min_duration_statement = -1"
        )
        # libpq takes the iteration count from the server (PostgreSQL 16+), else 4096
        iterations = int(db.parameters.get("scram_iterations") or DEFAULT_ITERATIONS)
        verifier = scram_verifier(password, iterations=iterations)
        db.execute(f"ALTER ROLE {quote_ident(settings.user)} PASSWORD {quote_literal(verifier)}")
        wanted, spare = quote_literal(settings.database), quote_literal(SPARE_DATABASE)
        names = {
            row[0]
            for row in db.execute(
                f"SELECT datname FROM pg_database WHERE datname IN ({wanted}, {spare})"
            )
        }
        if settings.database not in names:
            target = quote_ident(settings.database)
            db.execute(
                f"ALTER DATABASE {quote_ident(SPARE_DATABASE)} RENAME TO {target}"
                if SPARE_DATABASE in names
                else f"CREATE DATABASE {target}"
            )


def _spawn_ready(
    bins: PgBinaries,
    settings: PostgresSettings,
    data_dir: Path,
    run_dir: Path,
    log_path: Path,
    account: Account | None,
    deadline: float,
) -> tuple[ProcessRecord, int]:
    """Spawn the postmaster on a free (or the configured) port and wait for ``ready``."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        if settings.port is not None:
            port = settings.port
            ensure_port_free(HOST, port, key="services.postgres.port")
        else:
            port = free_port("0.0.0.0" if settings.listen == "*" else HOST)
        sock = run_dir / f".s.PGSQL.{port}"
        if len(str(sock)) > SOCKET_PATH_MAX:
            raise ProvisioningFailed(
                f"run directory {run_dir} is too long for a Unix socket path "
                f"({len(str(sock))} > {SOCKET_PATH_MAX} bytes); choose a shorter one"
            )
        offset = log_path.stat().st_size if log_path.exists() else 0
        try:
            record = spawn_detached(
                _server_argv(bins, data_dir, run_dir, port, settings.listen),
                log_path=log_path,
                env={"PATH": f"{bins.bindir}:/usr/bin:/bin", "LC_ALL": "C"},
                cwd=run_dir,
                user=account.name if account else None,
                record_path=server_pid_file(data_dir),
            )
        except OSError as exc:
            raise ProvisioningFailed(f"cannot execute {bins.postgres}: {exc.strerror}") from exc
        ready = wait_for(
            _ready_or_dead(record, data_dir),
            max(0.0, deadline - time.monotonic()),
            max_interval=READY_POLL_MAX,
        )
        if ready and is_alive(record):
            return record, port
        new_log = _new_log_text(log_path, offset)
        terminate_group(
            record, 2.0, first_signal=signal.SIGINT, leader_only=True, owner=server_owner(data_dir)
        )
        if not ready:
            raise ProvisioningFailed(
                f"PostgreSQL did not become ready within {settings.start_timeout:g} s "
                f"(services.postgres.start_timeout); log: {log_path}",
                log_tail=tail(log_path),
            )
        clash = any(marker in new_log for marker in _PORT_CLASH)
        if clash and settings.port is not None:
            raise ProvisioningFailed(
                f"port {port} on {HOST} is already in use (services.postgres.port)",
                log_tail=tail(log_path),
            )
        if not clash or attempt == PORT_ATTEMPTS:
            raise ProvisioningFailed(
                f"PostgreSQL exited during start-up; log: {log_path}", log_tail=tail(log_path)
            )
        log.info("port %d was taken before PostgreSQL bound it; retrying", port)
    raise AssertionError("unreachable")


def start_postgres(settings: PostgresSettings, *, data_dir: Path, run_dir: Path) -> PostgresHandle:
    """Start (or restart) the server for ``data_dir``; return once it answers ``SELECT 1``."""
    deadline = time.monotonic() + settings.start_timeout
    account = resolve_service_account(
        settings.run_as, service="PostgreSQL", key="services.postgres.run_as"
    )
    if account is None and settings.run_as not in (None, Account.current().name):
        log.warning("services.postgres.run_as=%s ignored: not running as root", settings.run_as)
    bins = find_pg_binaries()
    data_dir, run_dir = data_dir.absolute(), run_dir.absolute()
    if account is not None:
        for path, what in (
            (bins.bindir, "the PostgreSQL programs"),
            (data_dir.parent, "the data directory"),
            (run_dir.parent, "the run directory"),
        ):
            require_traversable(path, account, what=what)
    prepare_run_dir(run_dir, account)
    refill: Path | None = None
    if not (data_dir / "PG_VERSION").is_file():
        template = ensure_template(bins, superuser=settings.user, account=account)
        if make_data_dir(template, data_dir, account):
            refill = template
    else:
        require_owner(data_dir, account or Account.current())
        _clear_stale_server(data_dir)
    _clear_stale_socket_locks(run_dir, data_dir)

    os_users = [Account.current().name] + ([account.name] if account else [])
    _write_owned(data_dir / "pg_hba.conf", _hba(settings.auth_method, settings.listen), account)
    _write_owned(data_dir / "pg_ident.conf", _ident(os_users, settings.user), account)
    password_file, passfile = run_dir / PASSWORD_NAME, run_dir / PASSFILE_NAME
    log_path = run_dir / "postgres.log"
    password = server_password(settings, password_file)
    write_secret(password_file, password, owner=account)

    record, port = _spawn_ready(bins, settings, data_dir, run_dir, log_path, account, deadline)
    if account is not None:
        os.chown(log_path, account.uid, account.gid)
    handle = PostgresHandle(
        host=HOST,
        port=port,
        pid=record.pid,
        start_time=record.start_time,
        data_dir=data_dir,
        socket_dir=run_dir,
        password_file=password_file,
        passfile=passfile,
        log_path=log_path,
        database=settings.database,
        user=settings.user,
    )
    ok = False
    try:
        _bootstrap(settings, run_dir, port, password, deadline - time.monotonic())
        write_secret(
            passfile,
            pgpass_line(HOST, port, settings.database, settings.user, password),
            owner=account,
        )
        last = Probe(False, "not probed")

        def answered() -> bool:
            nonlocal last
            last = probe_postgres(handle)
            return last.healthy

        if not wait_for(
            answered, max(0.0, deadline - time.monotonic()), max_interval=READY_POLL_MAX
        ):
            raise ProvisioningFailed(
                f"PostgreSQL started but is not usable: {last.detail}", log_tail=tail(log_path)
            )
        ok = True
    except WireError as exc:
        raise ProvisioningFailed(
            f"PostgreSQL set-up over {run_dir} failed: {str(exc).strip().splitlines()[0]}",
            log_tail=tail(log_path),
        ) from exc
    finally:
        if not ok:
            stop_postgres(handle, grace=2.0)
    if refill is not None:  # the next spare, built once this server is ready
        start_refill(refill, account)
    return handle
