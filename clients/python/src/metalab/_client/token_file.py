"""The owner's private runtime directory: the default server socket and generated tokens.

As Jupyter does, a `metalab server` on loopback TCP without a configured token generates one
and writes it to a 0600 file in ``~/.metalab/run`` (``METALAB_HOME`` replaces ``~/.metalab``),
named after the address it listens on; the same account's CLI reads it by itself. The token is
never on a command line, in a log or in ``--json`` output. Both directions distrust the file
system: the directory must be the caller's and private (0700), a token file is created
atomically 0600 and read with ``O_NOFOLLOW`` only when it is the caller's, 0600 and one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from metalab.errors import ConfigError

MAX_TOKEN_BYTES = 4096


def runtime_dir(create: bool = False) -> Path:
    """``~/.metalab/run``; refused (one line) when it is not this account's or not private."""
    root = os.environ.get("METALAB_HOME") or str(Path.home() / ".metalab")
    path = Path(root) / "run"
    if create:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return path
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise ConfigError(
            f"{path} must be a directory of this account, mode 0700 "
            f"(is {stat.filemode(info.st_mode)}, uid {info.st_uid})"
        )
    return path


def default_socket() -> str:
    """The address `metalab server` listens on by default: a socket only its owner reaches."""
    return f"unix:{runtime_dir() / 'server.sock'}"


def token_path(address: str) -> Path:
    """The token file of a server listening on TCP ``address`` (``localhost`` = 127.0.0.1)."""
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    return runtime_dir() / f"server-{host}-{port}.token"


def write_token(address: str, token: str) -> Path:
    """Write the generated ``token`` of ``address`` atomically into a file 0600 from birth."""
    return _write_private(token_path(address), token)


def _write_private(path: Path, line: str) -> Path:
    """``line`` into ``path`` atomically, 0600 from birth, in the private runtime directory."""
    import secrets  # not at import: `metalab server --help` reads only `default_socket`

    runtime_dir(create=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        os.write(fd, f"{line}\n".encode())
        os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return path


def read_token(address: str) -> str | None:
    """The generated token of the server at TCP ``address``, or None when there is none.

    A file that is a symlink, not this account's, readable by others or not one line is
    refused with one line: it was not written by `metalab server`.
    """
    return _read_private(token_path(address), "token file")


def _read_private(path: Path, what: str) -> str | None:
    """The one line of ``path``, None when missing; refused unless a 0600 file of this account."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"refusing {what} {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise ConfigError(f"refusing {what} {path}: not a 0600 file of this account")
        data = os.read(fd, MAX_TOKEN_BYTES + 1)
    finally:
        os.close(fd)
    text = data.decode("utf-8", "replace").strip()
    if not text or len(data) > MAX_TOKEN_BYTES or any(c in text for c in "\r\n\0"):
        raise ConfigError(f"refusing {what} {path}: not one line")
    return text


def remove_token(path: Path, token: str) -> None:
    """Delete ``path`` if it still holds ``token`` (a newer server's file is left alone; also
    for owner-socket locators, with the owner address as ``token``)."""
    try:
        if path.read_text(encoding="utf-8").strip() == token:
            path.unlink()
    except OSError:
        pass
