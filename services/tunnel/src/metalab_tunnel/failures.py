"""Turn asyncssh and socket errors into one clear line, and say whether retrying can help."""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass

import asyncssh

NO_PASSWORDS = (
    "only public-key authentication is supported (no passwords): "
    "load the key into ssh-agent or set ssh_key"
)


@dataclass
class HopFailure(Exception):
    """One step of opening a tunnel failed: ``hop`` names it, ``reason`` says why."""

    hop: str
    reason: str
    retryable: bool = True
    gateway_level: bool = False
    refused: bool = False  # the host answered with a TCP reset: its sshd is not listening

    def __str__(self) -> str:
        return f"{self.hop}: {self.reason}"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host name ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is sshd running and listening on that port?)"
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "host unreachable from here"
    if isinstance(exc, FileNotFoundError) and exc.filename:
        return f"file not found: {exc.filename}"
    return exc.strerror or str(exc)


_CHANNEL_REASONS = {
    asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED: (
        "port forwarding is disabled on that server (AllowTcpForwarding)"
    ),
    asyncssh.OPEN_CONNECT_FAILED: "connection refused by the target (is the service running?)",
}


def explain(exc: BaseException) -> tuple[str, bool]:
    """A one-line reason for ``exc`` and whether retrying later may succeed."""
    if isinstance(exc, asyncssh.PermissionDenied):
        return f"authentication failed; {NO_PASSWORDS}", False
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return f"host key not verifiable: {exc.reason}", False
    if isinstance(exc, asyncssh.KeyImportError):
        return f"cannot load ssh_key: {exc} (passphrase-protected keys go in ssh-agent)", False
    if isinstance(exc, asyncssh.ChannelOpenError):
        reason = _CHANNEL_REASONS.get(exc.code, exc.reason or "channel open refused")
        return reason, True
    if isinstance(exc, asyncssh.ConnectionLost):
        return f"connection lost ({exc.reason or 'closed by peer'})", True
    if isinstance(exc, asyncssh.DisconnectError):
        return f"disconnected: {exc.reason}", True
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out", True
    if isinstance(exc, OSError):
        if isinstance(exc, FileNotFoundError):
            return _os_reason(exc), False
        return _os_reason(exc), True
    if isinstance(exc, asyncssh.Error):
        return str(exc), True
    if isinstance(exc, ValueError):  # asyncssh raises it for bad usernames, algorithms, ...
        return str(exc), False
    return f"{type(exc).__name__}: {exc}", True


def failure(hop: str, exc: BaseException, *, gateway_level: bool = False) -> HopFailure:
    reason, retryable = explain(exc)
    return HopFailure(
        hop, reason, retryable, gateway_level, isinstance(exc, ConnectionRefusedError)
    )


# What `except` clauses in this package catch when talking to SSH.
SSH_ERRORS: tuple[type[BaseException], ...] = (
    asyncssh.Error,
    asyncssh.KeyImportError,
    OSError,
    asyncio.TimeoutError,
    ValueError,
)
