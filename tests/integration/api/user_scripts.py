"""User scripts run as subprocesses, as a user would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_script(path: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``python path args...`` in its directory, as a user would; fails on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, str(path), *args],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if not k.startswith("METALAB")},
    )
    assert done.returncode == 0, done.stderr
    return done
