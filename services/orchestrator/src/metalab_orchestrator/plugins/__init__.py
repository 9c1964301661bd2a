"""Service plugins: each service the orchestrator runs (`postgres`, `atlas`) in one module that
both backends use — how it is launched, when it is ready, how it is probed, and what its bundle
entry exports. This package holds what every service shares: the clock of ``started_at`` and
the tunnel targets a bundle exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Each service's URL scheme, in the order tunnels are listed (the dashboard first).
SCHEMES = {"atlas": "http", "postgres": "postgresql"}


def now() -> str:
    """The time stamp of a bundle entry or endpoint (UTC, to the second)."""
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
