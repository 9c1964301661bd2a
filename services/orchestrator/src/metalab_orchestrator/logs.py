"""Read service logs: the last N lines of each, then optionally follow them.

The paths come from the backend (derived from the services directory); each is opened with
``O_NOFOLLOW`` so a log replaced by a symlink is not followed out of it.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from metalab.core.errors import ConfigError

FOLLOW_INTERVAL = 0.2


def _open(path: Path) -> BinaryIO:
    """Open a regular file for reading without following a symlink (`OSError` otherwise)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")


def _tail(path: Path, lines: int) -> tuple[list[str], int]:
    try:
        with _open(path) as handle:
            last = deque(handle, maxlen=lines if lines > 0 else None)
            return [raw.decode(errors="replace").rstrip("\n") for raw in last], handle.tell()
    except FileNotFoundError:
        return [], 0
    except OSError as exc:  # a symlink (ELOOP) or not a file: refused, said once
        raise ConfigError(f"{path}: not a log file metalab wrote ({exc.strerror or exc})") from exc


async def read_logs(
    paths: dict[str, Path], service: str, lines: int, follow: bool
) -> AsyncIterator[tuple[str, str]]:
    """Yield (service, line) pairs from each selected service's log."""
    if service and service not in paths:
        known = ", ".join(sorted(paths)) or "none"
        raise ConfigError(f"no service named {service!r} (running: {known})", key="SERVICE")
    selected = {service: paths[service]} if service else paths
    offsets: dict[str, int] = {}
    for name, path in selected.items():
        tail, offsets[name] = _tail(path, lines or 50)
        for line in tail:
            yield name, line
    while follow:
        await asyncio.sleep(FOLLOW_INTERVAL)
        for name, path in selected.items():
            try:
                with _open(path) as handle:
                    handle.seek(offsets[name])
                    chunk = handle.read()
                    offsets[name] = handle.tell()
            except OSError:
                continue
            for raw in chunk.decode(errors="replace").splitlines():
                yield name, raw
