"""The Atlas plugin: the dashboard's command, launch, readiness and bundle entry.

Atlas runs as ``python -m ATLAS_MODULE --store … --host … --port … --bundle …`` in every
runtime (a detached process here or on a compute node, or a container's command): change
`ATLAS_MODULE` to move it. It is token-protected even on loopback; the token lives in a 0600
file beside its log and reaches Atlas through its environment (a container reads the file).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metalab_orchestrator.plugins import now
from metalab_orchestrator.probes import probe_http
from metalab_orchestrator.runtime.readiness import READY_POLL, Alive, wait_ready

if TYPE_CHECKING:
    from metalab_orchestrator.runtime.accounts import Account
    from metalab_orchestrator.runtime.process import ProcessRecord

ATLAS_MODULE = "metalab_atlas"
TOKEN_FILE = "atlas.token"
TOKEN_ENV = "METALAB_ATLAS_TOKEN"
LOOPBACK = "127.0.0.1"


def atlas_args(locator: str, host: str, port: int, bundle_path: str | Path) -> list[str]:
    """Atlas's arguments: the store it reads, where it listens, the bundle it describes."""
    return ["--store", locator, "--host", host, "--port", str(port), "--bundle", str(bundle_path)]


def atlas_command(python: str, args: list[str]) -> list[str]:
    """The command that runs Atlas with ``python``."""
    return [python, "-m", ATLAS_MODULE, *args]


def new_token(directory: Path, owner: Account | None = None) -> tuple[str, Path]:
    """A fresh token, written 0600 to ``directory``/`TOKEN_FILE`; (token, its file)."""
    from metalab_orchestrator.runtime.secret_files import write_secret

    token = secrets.token_urlsafe(32)
    token_file = directory / TOKEN_FILE
    write_secret(token_file, token, owner=owner)
    return token, token_file


def spawn(
    args: list[str],
    *,
    token: str,
    drop_env: str,
    log_path: Path,
    cwd: Path,
    record_path: Path | None = None,
) -> ProcessRecord:
    """Start Atlas detached, with this environment minus the variables starting with
    ``drop_env`` and with its token."""
    from metalab_orchestrator.runtime.process import spawn_detached

    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_env)}
    if record_path is not None:
        record = _start_prewarmed(args, token, env, log_path, cwd, record_path)
        if record is not None:
            return record
    env[TOKEN_ENV] = token
    argv = atlas_command(sys.executable, args)
    return spawn_detached(argv, log_path=log_path, env=env, cwd=cwd, record_path=record_path)


def _start_prewarmed(
    args: list[str],
    token: str,
    env: dict[str, str],
    log_path: Path,
    cwd: Path,
    record_path: Path,
) -> ProcessRecord | None:
    """Start the Atlas this process pre-warmed (`metalab.core.prewarm`), if one waits and was
    spawned with ``env``: its identity recorded at ``record_path`` first, then its arguments,
    token and log sent over its socket. None when there is none (or it is gone): spawn then."""
    from metalab.core import prewarm
    from metalab_orchestrator.runtime.process import adopt, is_alive, open_log, write_record

    child = prewarm.take(ATLAS_MODULE, env, sys.executable)
    if child is None:
        return None
    record = adopt(child.process)
    if record is None or record.pgid != record.pid or not is_alive(record):
        child.discard()
        return None
    fd = open_log(log_path)
    try:
        write_record(record_path, record)
        child.go({"args": args, "token": token, "cwd": str(cwd)}, [fd])
    except OSError:
        return None  # gone before its start: the ordinary spawn overwrites the record
    finally:
        os.close(fd)
    return record


async def wait_atlas(
    port: int,
    token: str,
    budget: float,
    log_path: Path,
    alive: Alive,
    poll: tuple[float, float] = READY_POLL,
) -> None:
    """Wait until Atlas answers its health check on loopback with its token (`wait_ready`,
    polling at ``poll``)."""

    async def check() -> tuple[bool, str]:
        return await probe_http(LOOPBACK, port, token=token)

    await wait_ready("atlas", budget, log_path, check, alive, poll)


def atlas_entry(
    host: str, port: int, url: str, token_file: Path, log_path: Path, **extra: Any
) -> dict[str, Any]:
    """Atlas's bundle entry: where it answers, its log, its token file, plus ``extra``."""
    return {
        "host": host,
        "port": port,
        "url": url,
        **extra,
        "log_path": str(log_path),
        "started_at": now(),
        "secret_ref": str(token_file),
    }
