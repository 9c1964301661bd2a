"""Helpers for the experiment API's integration tests: user scripts run as subprocesses,
and whether the local SLURM cluster is up."""

from __future__ import annotations

import os
import shutil
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


def slurm_missing() -> str | None:
    for tool in ("sbatch", "squeue", "scancel", "scontrol"):
        if shutil.which(tool) is None:
            return f"SLURM missing: no {tool} (scripts/infra/start-slurm.sh)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "SLURM not answering: scontrol ping timed out"
    if ping.returncode != 0 or "UP" not in ping.stdout:
        return "SLURM not running (scripts/infra/start-slurm.sh)"
    return None
