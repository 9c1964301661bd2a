"""Listen addresses: parsing, loopback detection, and exclusive unix socket paths."""

from __future__ import annotations

import fcntl
import ipaddress
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from metalab.core.errors import ConfigError


def is_loopback(address: str) -> bool:
    """True for ``unix:`` paths and loopback hosts (127.0.0.0/8, ::1, localhost)."""
    if address.startswith("unix:"):
        return True
    host = host_of(address)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(address: str) -> str:
    """The host part of ``host:port`` or ``[v6]:port``."""
    if address.startswith("["):
        return address[1 : address.index("]")]
    host, sep, _port = address.rpartition(":")
    if not sep:
        raise ConfigError(f"expected HOST:PORT or unix:PATH, got {address!r}", key="--listen")
    return host


def check_listen(address: str, token: str | None) -> None:
    """Refuse to expose an unauthenticated server beyond loopback."""
    if not token and not is_loopback(address):
        raise ConfigError(
            f"refusing to listen on non-loopback address {address} without a token: "
            "set server.token in the settings file or METALAB_TOKEN",
            key="--listen",
        )


def require_token_for_tcp(address: str, token: str | None) -> None:
    """Refuse a TCP listener without a token, loopback included: every local account can
    connect to a loopback port. A ``unix:`` socket is the owner's alone (see `private_bind`)."""
    if not token and not address.startswith("unix:"):
        raise ConfigError(
            f"refusing to listen on {address} without a token: any local account can connect "
            "to a TCP port; `metalab server` generates one, or set METALAB_TOKEN",
            key="--listen",
        )


@contextmanager
def private_bind(address: str) -> Iterator[None]:
    """Around the bind of a ``unix:`` socket: create it 0600 (umask 0177), so that only this
    account (and root) can ``connect()`` — Linux requires write permission on the socket file.

    The umask is process-wide for the microseconds of the bind; it can only make files that
    other threads create meanwhile more private. The mode is set again after the bind.
    """
    if not address.startswith("unix:"):
        yield
        return
    previous = os.umask(0o177)
    try:
        yield
    finally:
        os.umask(previous)
    os.chmod(address[len("unix:") :], 0o600)


def lock_unix_path(address: str) -> IO[bytes] | None:
    """Hold an exclusive lock beside a ``unix:`` socket so a second server cannot take it over.

    Binding a unix socket replaces an existing socket file silently; the lock makes the second
    server fail with a clear error instead. Returns the open lock file (keep it for the server's
    lifetime) or None for TCP addresses.
    """
    if not address.startswith("unix:"):
        return None
    path = Path(address[len("unix:") :])
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    try:  # never through a symlink planted beside a shared socket
        fd = os.open(f"{path}.lock", flags, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot lock {path}.lock: {exc.strerror}") from None
    handle = os.fdopen(fd, "ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"another metalab server is already listening on {path}") from None
    os.set_inheritable(handle.fileno(), False)
    return handle


def owner_only_dir(address: str) -> tuple[int, str]:
    """For the owner's socket ``unix:PATH``: an open descriptor of its directory (keep it while
    the socket is bound: the server unlinks the socket through it when it stops) and the
    address to bind instead.

    PATH's directory is created 0700 when missing; refused with one line unless it is a
    directory (not a symlink) of this account that no other account may enter, as PostgreSQL's
    ``unix_socket_directories`` with mode 0700 and OpenSSH's agent sockets: the kernel then
    refuses every other account at ``connect()``, so the socket needs no token and no relay.
    The bind goes through the descriptor of the directory checked (``/proc/self/fd/N/NAME``),
    so a directory swapped in after the check never receives the socket.
    """
    path = Path(address.removeprefix("unix:"))
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(
            f"refusing the owner socket {path}: its directory {directory} is not a directory "
            f"of this account ({exc.strerror}); other accounts go through --shared-socket",
            key="--listen",
        ) from None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise ConfigError(
                f"refusing the owner socket {path}: its directory {directory} must be this "
                f"account's with mode 0700 (is {stat.filemode(info.st_mode)}, uid "
                f"{info.st_uid}); other accounts go through --shared-socket",
                key="--listen",
            )
    except BaseException:
        os.close(fd)
        raise
    return fd, f"unix:/proc/self/fd/{fd}/{path.name}"
