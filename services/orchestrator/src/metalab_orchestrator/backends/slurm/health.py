"""Real service checks for a bundle whose job runs: from here, or through the SSH gateway.

Directly reachable nodes get the same checks as the local backend (an authenticated
``SELECT 1`` over the wire protocol, Atlas' health endpoint with its token). Through the
gateway, the client has neither the passfile nor a route: the checks ride an SSH
``direct-tcpip`` channel, Atlas' health as usual and PostgreSQL by its wire protocol (a startup
message answered with an authentication request proves the postmaster accepts connections; no
secret leaves the cluster).
The probes themselves are the plugins' (`plugins.postgres`, `plugins.atlas`); this module picks
the one each service and route needs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from metalab_orchestrator.backends.base import Probe
from metalab_orchestrator.plugins import PROBE_TIMEOUT
from metalab_orchestrator.plugins.atlas import probe_http
from metalab_orchestrator.plugins.postgres import probe_postgres, probe_wire

from .runner import CommandRunner


async def probe_service(runner: CommandRunner, name: str, handle: dict[str, Any]) -> Probe:
    """The probe of one service of a running job, direct or through the gateway."""
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
                ok, detail = await probe_wire(reader, writer, user, database)
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
