"""Host key checks beyond asyncssh's: tell unknown from changed, and record a new key on opt-in."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

from metalab_tunnel.failures import HopFailure

_OPTION_KEYS = ("host", "port", "username", "config", "known_hosts")


def resolved_options(kwargs: dict[str, object]) -> asyncssh.SSHClientConnectionOptions:
    """Options as `asyncssh.connect` would resolve them, ``~/.ssh/config`` included.

    Built directly, the options class reads no config file unless ``config=()`` asks for the
    default one (connect passes that); without it ``UserKnownHostsFile`` and friends are lost.
    """
    selected = {k: v for k, v in kwargs.items() if k in _OPTION_KEYS}
    selected.setdefault("config", ())
    return asyncssh.SSHClientConnectionOptions(**selected)


def known_hosts_files(kwargs: dict[str, object]) -> list[Path]:
    """The known_hosts files a hop is checked against (``~/.ssh/known_hosts`` by default)."""
    return _known_hosts_files(resolved_options(kwargs))


def _known_hosts_files(options: asyncssh.SSHClientConnectionOptions) -> list[Path]:
    configured = options.known_hosts
    if isinstance(configured, str):
        return [Path(configured).expanduser()]
    if isinstance(configured, list | tuple) and configured:
        return [Path(str(p)).expanduser() for p in configured if isinstance(p, str | Path)]
    return [Path("~/.ssh/known_hosts").expanduser()]


def _host_pattern(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def _is_known(files: list[Path], host: str, port: int) -> bool:
    for path in files:
        if not path.is_file():
            continue
        trusted = asyncssh.match_known_hosts(str(path), host, "", port if port != 22 else None)
        if trusted[0] or trusted[1]:
            return True
    return False


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


async def resolve_unverified(
    hop: str,
    kwargs: dict[str, object],
    tunnel: asyncssh.SSHClientConnection | None,
    accept_new: bool,
) -> None:
    """Called after HostKeyNotVerifiable: record the key (opt-in, unknown hosts only) or raise."""
    options = resolved_options(kwargs)
    host = str(options.host_key_alias or options.host)
    port = int(options.port)
    files = _known_hosts_files(options)
    pattern = _host_pattern(host, port)
    if _is_known(files, host, port):
        raise HopFailure(
            hop,
            f"host key for {pattern} has CHANGED (it does not match {files[0]}): possible "
            f"man-in-the-middle; if the host was reinstalled, run ssh-keygen -R '{pattern}'",
            retryable=False,
        )
    if not accept_new:
        raise HopFailure(
            hop,
            f"host key for {pattern} is unknown (not in {files[0]}): connect once with ssh "
            "to verify it, or set accept_new_host_key = true",
            retryable=False,
        )
    key = await asyncssh.get_server_host_key(
        options.host, port, tunnel=tunnel if tunnel is not None else (), config=[]
    )
    if key is None:
        raise HopFailure(hop, f"{pattern} presented no host key", retryable=False)
    public = key.export_public_key("openssh").decode().split()
    _append(files[0], f"{pattern} {public[0]} {public[1]}\n")
