"""Atlas stops when its services directory is deleted under it.

PostgreSQL notices that its lock file is gone and stops; Atlas would serve on, a process
nothing records any more (``rm -rf`` of a project whose services still run). Given the
bundle's path, a daemon thread holds the directory open and checks every `WATCH_INTERVAL`
seconds whether it has been removed (its link count is 0, which holds in a container's bind
mount too); then it logs one line and sends this process SIGTERM, uvicorn's graceful stop.
An error from ``fstat`` (a network file system's stale handle) is not taken for removal.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

WATCH_INTERVAL = 2.0


def watch_services_dir(bundle_path: str, interval: float = WATCH_INTERVAL) -> bool:
    """Watch the directory holding ``bundle_path``; False when it cannot be opened."""
    directory = os.path.dirname(os.path.abspath(bundle_path))
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False

    def watch() -> None:
        while True:
            time.sleep(interval)
            try:
                removed = os.fstat(fd).st_nlink == 0
            except OSError:
                continue
            if removed:
                print(
                    f"atlas: its services directory {directory} was removed; stopping",
                    file=sys.stderr,
                    flush=True,
                )
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="atlas-orphan-watch", daemon=True).start()
    return True
