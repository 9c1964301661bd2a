"""The Atlas plugin: the dashboard's command, launch, probes and bundle entry (its readiness:
`launch`).

Atlas runs as ``python -m ATLAS_MODULE --store … --host … --port … --bundle …`` in every
runtime (a detached process here or on a compute node, or a container's command): change
`ATLAS_MODULE` to move it. It is token-protected even on loopback; the token lives in a 0600
file beside its log and reaches Atlas through its environment (a container reads the file).
It is probed with ``GET /api/health`` and its token over a plain socket: `check_http` blocks (the
warm CLI), `probe_http` runs it for an event loop. Cheap to import: no asyncio.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metalab_orchestrator.plugins import PROBE_TIMEOUT, connect_tcp, now

if TYPE_CHECKING:
    import asyncio

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
    import secrets

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


def token_of(entry: Mapping[str, Any], directory: Path) -> str | None:
    """The token of the Atlas ``entry`` records, from its `TOKEN_FILE` in ``directory`` (none
    for an Atlas started before tokens were required on loopback)."""
    if not entry.get("secret_ref"):
        return None
    try:  # not through secret_files: the warm `services up` must not import it
        return (directory / TOKEN_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _request(host: str, port: int, path: str, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}Connection: close\r\n\r\n".encode()


def _verdict(status_line: bytes) -> tuple[bool, str]:
    parts = status_line.decode(errors="replace").split()
    if len(parts) >= 2 and parts[1] == "200":
        return True, ""
    return False, f"health answered {' '.join(parts[1:]) or 'nothing'}"


def check_http(
    host: str, port: int, path: str = "/api/health", *, token: str | None = None
) -> tuple[bool, str]:
    """(healthy, detail) from ``GET path`` answering 200 (``token`` sent as a bearer token)."""
    try:
        sock = connect_tcp(host, port, PROBE_TIMEOUT)
    except OSError as exc:
        return False, f"connection failed: {exc}"
    with sock:
        try:
            sock.sendall(_request(host, port, path, token))
            status_line = sock.makefile("rb").readline()
        except OSError as exc:
            return False, f"no answer: {exc}"
    return _verdict(status_line)


Connect = Callable[[], Awaitable[tuple["asyncio.StreamReader", "asyncio.StreamWriter"]]]


async def probe_http(
    host: str,
    port: int,
    path: str = "/api/health",
    *,
    token: str | None = None,
    connect: Connect | None = None,
) -> tuple[bool, str]:
    """`check_http` off the event loop; with ``connect``, over the streams it opens instead
    (e.g. through an SSH gateway)."""
    import asyncio

    if connect is None:
        return await asyncio.to_thread(check_http, host, port, path, token=token)
    try:
        reader, writer = await asyncio.wait_for(connect(), PROBE_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        return False, f"connection failed: {exc}"
    try:
        writer.write(_request(host, port, path, token))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), PROBE_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        return False, f"no answer: {exc}"
    finally:
        writer.close()
    return _verdict(status_line)
