"""Helpers for tests: run the installed CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

METALAB = str(Path(sys.executable).parent / "metalab")


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed `metalab` as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [METALAB, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
