"""Finding pre-warmed Atlas children (`metalab.core.prewarm`) a test's processes left."""

from __future__ import annotations

import os
from pathlib import Path

MODULE = "metalab_atlas"


def is_gone(pid: int) -> bool:
    """No such process, or only its zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return text[text.rindex(")") + 2 :].split()[0] in ("Z", "X", "x")


def prewarmed_children_of(parent: int) -> list[str]:
    """Live ``python -m metalab_atlas --prewarm PARENT`` processes: "pid: command line"."""
    wanted = [b"-m", MODULE.encode(), b"--prewarm", str(parent).encode()]
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[1:5] == wanted and not is_gone(int(entry.name)):
            found.append(f"{entry.name}: {b' '.join(argv).decode(errors='replace').strip()}")
    return found
