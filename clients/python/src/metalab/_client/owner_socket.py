"""Finding the owner's direct socket of a `metalab server`, so its owner skips token and relay.

`metalab server` serves its owner on a socket in a 0700 directory of its account (no token, no
relay) and, when asked, other accounts on a shared socket behind the peer-credential relay. It
records, in the private runtime directory (``~/.metalab/run``, 0700), one locator per address it
listens on — a 0600 file named after the address holding the owner socket's address — as it
does for generated tokens. A client configured with either address (``METALAB_SERVER``) reads
the locator and goes to the owner socket without a token, when the socket is there, this
account's, in a directory of this account closed to others, and answers ``connect()``;
otherwise it keeps the configured address (and its token).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

from metalab._client.token_file import _read_private, _write_private, remove_token, runtime_dir


def locator_path(address: str) -> Path:
    """The locator of the server listening on ``unix:`` ``address`` (keyed by its path)."""
    path = os.path.abspath(address.removeprefix("unix:"))
    digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return runtime_dir() / f"server-unix-{digest}.owner"


def write_locators(owner: str, shared: str | None) -> list[Path]:
    """Record ``owner`` as the owner socket of itself and of ``shared``; the files written."""
    return [_write_private(locator_path(a), owner) for a in (owner, shared) if a is not None]


def remove_locators(paths: list[Path], owner: str) -> None:
    """Delete the locators still naming ``owner`` (a newer server's are left alone)."""
    for path in paths:
        remove_token(path, owner)


def owner_socket(address: str) -> str | None:
    """The owner socket of the server at ``unix:`` ``address`` when this account may use it
    directly, else None (the caller keeps ``address`` and its token)."""
    if not address.startswith("unix:"):
        return None
    recorded = _read_private(locator_path(address), "server locator")
    if recorded is None or not recorded.startswith("unix:"):
        return None
    path = recorded.removeprefix("unix:")
    if not (_owned(path, stat.S_ISSOCK) and _owned(os.path.dirname(path), stat.S_ISDIR)):
        return None
    return recorded if _answers(path) else None


def _owned(path: str, kind: Callable[[int], bool]) -> bool:
    """``path`` itself (no symlink) is of ``kind``, this account's, closed to other accounts."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return kind(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077


def _answers(path: str) -> bool:
    """A server listens on the socket (a server killed with SIGKILL leaves its file behind)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.setblocking(False)
        try:
            probe.connect(path)
        except BlockingIOError:
            return True  # the backlog is full: someone listens
        except OSError:
            return False  # refused: nobody listens
        with contextlib.suppress(OSError):
            probe.shutdown(socket.SHUT_RDWR)
    return True
