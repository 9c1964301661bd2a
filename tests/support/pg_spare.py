"""Finding the PostgreSQL spare refill children (`runtime/pg_spare.py`) a test's starts left."""

from __future__ import annotations

import os
import time
from pathlib import Path

MODULE = "metalab_orchestrator.runtime.pg_spare"


def refills_under(path: Path) -> list[str]:
    """Live refill children building a spare somewhere under ``path``: "pid: command line"."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().decode(errors="replace").split("\0")
            state = Path(entry.path, "stat").read_text().rsplit(") ", 1)[1][0]
        except (OSError, IndexError):
            continue
        if MODULE not in argv or state in "ZX":
            continue
        root = argv[argv.index(MODULE) + 1] if argv.index(MODULE) + 1 < len(argv) else ""
        if root == str(path) or root.startswith(f"{path}/"):
            found.append(f"{entry.name}: {' '.join(argv).strip()}")
    return found


def wait_for_refills(path: Path, patience: float = 120.0) -> list[str]:
    """Until no refill builds under ``path`` (each exits on its own); those left after
    ``patience`` s."""
    deadline = time.monotonic() + patience
    while (left := refills_under(path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
