"""Where local services listen and which ports they take (set for a container deployment).

By default Postgres and Atlas listen on 127.0.0.1 at any free port. Inside a container they
must listen on every interface of the container (``METALAB_BIND_HOST=0.0.0.0``) at ports the
host publishes (``METALAB_PORT_RANGE=LOW-HIGH``); bundles still advertise 127.0.0.1, which
reaches them from inside the container and, through the published ports, from the host.
"""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from metalab.core.errors import ConfigError, ProvisioningFailed

LOOPBACK = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0"
BIND_KEY = "METALAB_BIND_HOST"
RANGE_KEY = "METALAB_PORT_RANGE"
ANY_PORT_ATTEMPTS = 100


@dataclass(frozen=True)
class LocalNetwork:
    """The listen address of local services and the ports they may use (None: any)."""

    bind_host: str = LOOPBACK
    port_range: tuple[int, int] | None = None

    @property
    def loopback_only(self) -> bool:
        return self.bind_host == LOOPBACK

    @property
    def postgres_listen(self) -> str:
        """PostgreSQL's ``listen_addresses``."""
        return LOOPBACK if self.loopback_only else "*"

    def check_port(self, port: int, key: str) -> None:
        """A configured port must lie in the published range, else the host cannot reach it."""
        if self.port_range is not None and not self.port_range[0] <= port <= self.port_range[1]:
            low, high = self.port_range
            raise ConfigError(
                f"port {port} is outside {RANGE_KEY}={low}-{high}, the ports this server "
                "publishes; choose one inside it or leave it unset",
                key=key,
            )

    def free_port(self, exclude: Collection[int] = ()) -> int:
        """A port that was free a moment ago: any (bind 0), or one of the range."""
        if self.port_range is None:
            # The kernel may hand out a port again as soon as its probe socket is closed, e.g.
            # the one just planned for PostgreSQL, which binds it only later.
            for _ in range(ANY_PORT_ATTEMPTS):
                port = _bindable(self.bind_host, 0)
                if port and port not in exclude:
                    return port
            raise ProvisioningFailed(
                f"no free port on {self.bind_host} besides the {len(exclude)} already planned"
            )
        low, high = self.port_range
        ports = list(range(low, high + 1))
        start = random.randrange(len(ports))  # noqa: S311 - spreads concurrent picks, not secret
        for port in ports[start:] + ports[:start]:
            if port not in exclude and _bindable(self.bind_host, port):
                return port
        raise ProvisioningFailed(f"no free port left in {RANGE_KEY}={low}-{high}")


def _bindable(host: str, port: int) -> int:
    """The port bound on ``host`` (0 when ``port`` is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return 0
        bound: int = sock.getsockname()[1]
        return bound


def local_network(environ: Mapping[str, str] | None = None) -> LocalNetwork:
    """The network settings from ``METALAB_BIND_HOST`` and ``METALAB_PORT_RANGE``."""
    env = os.environ if environ is None else environ
    bind_host = env.get(BIND_KEY) or LOOPBACK
    if bind_host not in (LOOPBACK, ALL_INTERFACES):
        raise ConfigError(f"{bind_host!r} is not {LOOPBACK} or {ALL_INTERFACES}", key=BIND_KEY)
    raw = env.get(RANGE_KEY, "").strip()
    return LocalNetwork(bind_host, parse_port_range(raw) if raw else None)


def parse_port_range(text: str) -> tuple[int, int]:
    """``LOW-HIGH`` (inclusive, 1024 ≤ LOW ≤ HIGH ≤ 65535), or a one-line `ConfigError`."""
    low_text, sep, high_text = text.partition("-")
    try:
        low, high = int(low_text), int(high_text)
    except ValueError:
        low = high = -1
    if not sep or not 1024 <= low <= high <= 65535:
        raise ConfigError(
            f"{text!r} is not LOW-HIGH with 1024 <= LOW <= HIGH <= 65535", key=RANGE_KEY
        )
    return low, high
