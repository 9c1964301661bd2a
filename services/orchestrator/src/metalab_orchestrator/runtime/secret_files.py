"""Files holding secrets: created 0600 from birth, written atomically, never chmod-after-write."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .accounts import Account


def write_secret(path: Path, content: str, *, owner: Account | None = None) -> None:
    """Atomically replace ``path`` with ``content``; the file is 0600 from its creation.

    A temporary file is created with ``O_EXCL`` and mode 0600, written, fsynced, handed to
    ``owner`` and renamed over ``path``; the directory is fsynced too.
    """
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    renamed = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as f:
            f.write(content)
            f.flush()
        os.fsync(fd)
        if owner is not None:
            os.fchown(fd, owner.uid, owner.gid)
        os.replace(tmp, path)
        renamed = True
    finally:
        os.close(fd)
        if not renamed:
            tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_secret(path: Path) -> str | None:
    """The content of a secret file, or None when it does not exist."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def pgpass_field(value: str) -> str:
    """Escape one field of a libpq password file (``\\`` and ``:`` get a backslash)."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_line(host: str, port: int | str, database: str, user: str, password: str) -> str:
    """One ``host:port:database:user:password`` line of a libpq password file (``*``: any)."""
    if any(c in password for c in "\r\n\0"):
        raise ValueError("a PostgreSQL password cannot contain newlines or NUL")
    fields = [host, str(port), database, user, password]
    return ":".join(pgpass_field(f) for f in fields) + "\n"
