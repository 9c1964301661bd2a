"""Read service logs: the last N lines of each, then optionally follow them."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

from metalab.errors import ConfigError

FOLLOW_INTERVAL = 0.2


def _tail(path: Path, lines: int) -> tuple[list[str], int]:
    try:
        with path.open("rb") as handle:
            last = deque(handle, maxlen=lines if lines > 0 else None)
            return [raw.decode(errors="replace").rstrip("\n") for raw in last], handle.tell()
    except FileNotFoundError:
        return [], 0


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
                with path.open("rb") as handle:
                    handle.seek(offsets[name])
                    chunk = handle.read()
                    offsets[name] = handle.tell()
            except FileNotFoundError:
                continue
            for raw in chunk.decode(errors="replace").splitlines():
                yield name, raw
