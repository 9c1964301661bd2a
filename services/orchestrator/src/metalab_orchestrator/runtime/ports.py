"""TCP ports on this machine: pick a free one, or check that a configured one is free."""

from __future__ import annotations

import errno
import socket

from metalab.core.errors import ProvisioningFailed


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free on ``host`` a moment ago (bind 0). The caller retries on a race."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_port_free(host: str, port: int, *, key: str | None = None) -> None:
    """Raise ``ProvisioningFailed`` at once when ``port`` on ``host`` is taken.

    Binds like a server does (``SO_REUSEADDR``), so a port held only by TIME_WAIT
    connections counts as free. ``key`` names the setting that chose the port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise ProvisioningFailed(
                    f"cannot bind port {port} on {host}: {exc.strerror}"
                ) from exc
            where = f" ({key})" if key else ""
            raise ProvisioningFailed(f"port {port} on {host} is already in use{where}") from exc
