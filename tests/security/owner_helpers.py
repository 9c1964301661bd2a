"""Helpers of the process-ownership tests: the CLI, pid handles, spawned victims."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import METALAB


def handle(pid: int, start_time: int, **extra: object) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": 1,
        "pid": pid,
        "pgid": pid,
        "start_time": start_time,
        **extra,
    }


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a session of its own: a killpg(0) it was tricked into hits only itself."""
    return subprocess.run(
        [METALAB, *args],
        cwd=project,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
    )


def spawn(argv: list[str], victims: list[subprocess.Popen[bytes]], **kw: object) -> int:
    process = subprocess.Popen(argv, start_new_session=True, **kw)  # type: ignore[call-overload]
    victims.append(process)
    return int(process.pid)
