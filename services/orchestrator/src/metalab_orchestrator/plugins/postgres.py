"""The PostgreSQL plugin: the server's settings, launch, readiness and bundle entry.

Both backends start the server through `start` (the runtime's `start_postgres`, which waits
until an authenticated ``SELECT 1`` answers), describe it with `postgres_entry` and hand
clients `locator_of` that entry. The container runtime has its own start
(`runtime.container_services`), with the same entry fields.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from metalab_orchestrator.plugins import now

if TYPE_CHECKING:
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


async def start(config: PostgresSettings, data_dir: Path, run_dir: Path) -> PostgresHandle:
    """Start the server natively (off the event loop); returns once it answers."""
    from metalab_orchestrator.runtime.postgres import start_postgres

    return await asyncio.to_thread(start_postgres, config, data_dir=data_dir, run_dir=run_dir)


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
