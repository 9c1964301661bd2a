"""Real service checks for a bundle whose job runs: from here, or through the SSH gateway.

Directly reachable nodes get the same checks as the local backend (an authenticated
``SELECT 1`` through psql, Atlas' health endpoint with its token). Through the gateway, the
client has neither the passfile nor a route: the checks ride an SSH ``direct-tcpip`` channel,
Atlas' health as usual and PostgreSQL by its wire protocol (a startup message answered with an
authentication request proves the postmaster accepts connections; no secret leaves the cluster).
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from metalab_orchestrator.backends.base import Probe
from metalab_orchestrator.probes import PROBE_TIMEOUT, probe_http, probe_postgres

from .runner import CommandRunner


async def probe_pg_wire(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, user: str, database: str
) -> tuple[bool, str]:
    """(healthy, detail): send a StartupMessage, expect an Authentication request ('R')."""
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


async def probe_service(runner: CommandRunner, name: str, handle: dict[str, Any]) -> Probe:
    host, port = str(handle.get("host", "")), int(handle.get("port", 0))
    url = str(handle.get("url", ""))

    async def tunnel() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        streams = await runner.open_connection(host, port)
        assert streams is not None
        return streams

    via_gateway = runner.target != "local"
    try:
        if name == "postgres":
            user, database = str(handle.get("user")), str(handle.get("database"))
            if via_gateway:
                reader, writer = await asyncio.wait_for(tunnel(), PROBE_TIMEOUT)
                ok, detail = await probe_pg_wire(reader, writer, user, database)
            else:
                passfile = str(handle.get("passfile"))
                ok, detail = await probe_postgres(host, port, user, database, passfile)
        else:
            ref = str(handle.get("secret_ref") or "")
            token = (await runner.read_file(ref) or b"").decode().strip() if ref else ""
            ok, detail = await probe_http(
                host, port, token=token or None, connect=tunnel if via_gateway else None
            )
    except (OSError, TimeoutError) as exc:
        ok, detail = False, f"connection failed: {exc}"
    return Probe(name, host, port, ok, "running" if ok else "unreachable", detail, url)
