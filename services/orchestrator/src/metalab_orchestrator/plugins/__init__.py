"""Service plugins: each service the orchestrator runs (`postgres`, `atlas`) in one package that
both backends use — how it is probed and what its bundle entry exports (the package itself,
cheap: the warm `services up` / `services status` import it without asyncio), how it is launched
and when it is ready (its ``launch`` module). This package holds what every service shares: the
clock of ``started_at``, the tunnel targets a bundle exports, the probes' TCP connection.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

PROBE_TIMEOUT = 3.0
CONNECT_TIMEOUT = 2.0

# Each service's URL scheme, in the order tunnels are listed (the dashboard first).
SCHEMES = {"atlas": "http", "postgres": "postgresql"}


def now() -> str:
    """The time stamp of a bundle entry or endpoint (UTC, to the second)."""
    from datetime import UTC, datetime  # not at import: the warm CLI imports this package

    return datetime.now(UTC).isoformat(timespec="seconds")


def tunnel_targets(services: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What a client may tunnel to: each running service's host, port and scheme."""
    return [
        {
            "service": name,
            "host": services[name]["host"],
            "port": services[name]["port"],
            "scheme": scheme,
        }
        for name, scheme in SCHEMES.items()
        if services.get(name)
    ]


def connect_tcp(host: str, port: int, timeout: float) -> socket.socket:
    """`socket.create_connection`, looking ``host`` up as bytes when it is ASCII: a str host
    makes the first lookup import the IDNA codec (and `stringprep`), a cost on every CLI call."""
    name: str | bytes = host.encode() if host.isascii() else host
    failure: OSError = OSError(f"cannot resolve {host!r}")
    for family, kind, proto, _name, address in socket.getaddrinfo(
        name, port, type=socket.SOCK_STREAM
    ):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        return sock
    raise failure
