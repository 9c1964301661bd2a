"""The PostgreSQL plugin: the server's settings, probes and bundle entry (its launch and
readiness: `launch`).

Both backends start the server through `launch.start` (the runtime's `start_postgres`, which
waits until an authenticated ``SELECT 1`` answers), describe it with `postgres_entry`, hand
clients `locator_of` that entry and check it with `check_postgres` (blocking: the warm CLI) or
`probe_postgres`, or through an SSH gateway with `probe_wire`. The container runtime has its own
start (`runtime.container_services`), with the same entry fields.

The probes speak the wire protocol over a plain socket (`pgwire`): a connection and a few round
trips, not a fork/exec of psql (~20 ms) nor an import of psycopg (~0.35 s). The password comes
from the 0600 passfile, as libpq reads it; nothing secret is logged. Cheap to import: no asyncio.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from metalab_orchestrator.plugins import CONNECT_TIMEOUT, PROBE_TIMEOUT, connect_tcp, now

if TYPE_CHECKING:
    import asyncio

    from metalab_orchestrator.runtime.pg_handle import AuthMethod, PostgresHandle, PostgresSettings


class PostgresConfig(Protocol):
    """``[services.postgres]`` as either backend has it (the spec, or the job's spec)."""

    @property
    def auth_method(self) -> str: ...
    @property
    def database(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def run_as(self) -> str | None: ...
    @property
    def start_timeout(self) -> float: ...


def settings(
    config: PostgresConfig, *, port: int, password: str | None, listen: str
) -> PostgresSettings:
    """The runtime's settings for ``config``, on ``port``, listening on ``listen``."""
    from metalab_orchestrator.runtime.pg_handle import PostgresSettings

    return PostgresSettings(
        auth_method=cast("AuthMethod", config.auth_method),
        database=config.database,
        user=config.user,
        port=port,
        password=password,
        run_as=config.run_as,
        start_timeout=config.start_timeout,
        listen=listen,
    )


def postgres_entry(
    handle: PostgresHandle, *, host: str, passfile: Path, **extra: Any
) -> dict[str, Any]:
    """The server's bundle entry: where it answers (``host``), its files, plus ``extra``."""
    return {
        "host": host,
        "port": handle.port,
        **extra,
        "data_dir": str(handle.data_dir),
        "socket_dir": str(handle.socket_dir),
        "secret_ref": str(handle.password_file),
        "passfile": str(passfile),
        "log_path": str(handle.log_path),
        "database": handle.database,
        "user": handle.user,
        "started_at": now(),
    }


def locator_of(entry: Mapping[str, Any], file_root: str | None) -> str:
    """The store locator clients use for the server a bundle entry records."""
    from metalab_orchestrator.runtime.pg_handle import build_locator

    return build_locator(
        user=str(entry["user"]),
        host=str(entry["host"]),
        port=int(entry["port"]),
        database=str(entry["database"]),
        passfile=Path(str(entry["passfile"])),
        file_root=file_root,
    )


def check_postgres(
    host: str, port: int, user: str, database: str, passfile: str
) -> tuple[bool, str]:
    """(healthy, detail) from ``SELECT 1`` authenticated with the password in ``passfile``."""
    from metalab_orchestrator.pgwire import WireError, passfile_password, select_one

    password = passfile_password(Path(passfile), host, port, database, user)
    try:
        sock = connect_tcp(host, port, CONNECT_TIMEOUT)
    except OSError as exc:
        return False, f"connection failed: {exc}"
    with sock:
        try:
            select_one(sock, user, database, password, PROBE_TIMEOUT)
        except WireError as exc:
            return False, str(exc)
    return True, ""


async def probe_postgres(
    host: str, port: int, user: str, database: str, passfile: str
) -> tuple[bool, str]:
    """`check_postgres` off the event loop."""
    import asyncio

    return await asyncio.to_thread(check_postgres, host, port, user, database, passfile)


async def probe_wire(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, user: str, database: str
) -> tuple[bool, str]:
    """(healthy, detail) without a secret: send a StartupMessage over streams (e.g. an SSH
    channel) and expect an Authentication request ('R'): the postmaster accepts connections."""
    import asyncio
    import struct

    params = (
        b"".join(
            f"{k}\0{v}\0".encode()
            for k, v in (
                ("user", user),
                ("database", database),
                ("application_name", "metalab-probe"),
            )
        )
        + b"\0"
    )
    writer.write(struct.pack("!ii", 8 + len(params), 196608) + params)
    try:
        await writer.drain()
        head = await asyncio.wait_for(reader.readexactly(5), PROBE_TIMEOUT)
        kind, length = head[:1], struct.unpack("!i", head[1:])[0]
        body = await asyncio.wait_for(reader.readexactly(max(0, length - 4)), PROBE_TIMEOUT)
    except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
        return False, f"no answer: {exc}"
    finally:
        writer.close()
    if kind == b"R":
        return True, ""
    if kind == b"E":
        fields = dict((f[:1], f[1:].decode(errors="replace")) for f in body.split(b"\0") if f)
        return False, fields.get(b"M", "error")
    return False, f"unexpected answer {kind!r}"
