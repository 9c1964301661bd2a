"""Which real components this machine has (SLURM, PostgreSQL), and how tests ask for them.

A missing component skips the test with the reason and the script that provides it; with
``METALAB_CI=1`` it fails instead, so CI can never go green by skipping.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "metalab"  # made by scripts/infra/ensure-user.sh; PostgreSQL refuses to run as root
# The suite's private SLURM cluster (scripts/infra/start-slurm.sh); tests/conftest.py points
# SLURM_CONF at it.
TEST_SLURM_CONF = (
    Path(os.environ.get("METALAB_SLURM_DIR", "/var/lib/metalab-slurm")) / "etc" / "slurm.conf"
)


def in_ci() -> bool:
    return os.environ.get("METALAB_CI") == "1"


def require(problem: str | None) -> None:
    """Skip (or, under METALAB_CI=1, fail) when ``problem`` names what is missing."""
    import pytest

    if problem is None:
        return
    if in_ci():
        pytest.fail(f"METALAB_CI=1 and {problem}", pytrace=False)
    pytest.skip(problem)


def slurm_missing() -> str | None:
    for tool in ("sbatch", "squeue", "scancel", "scontrol", "sinfo"):
        if shutil.which(tool) is None:
            return f"SLURM missing: no {tool} (scripts/infra/install-packages.sh)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "SLURM not answering: scontrol ping timed out"
    if ping.returncode != 0 or "UP" not in ping.stdout:
        where = os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")
        return f"SLURM not running at {where} (scripts/infra/start-slurm.sh)"
    return None


def default_partition() -> str:
    """The cluster's default partition (else its first), for tests that must name one."""
    out = subprocess.run(
        ["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True, check=True
    ).stdout.split()
    default = [p.rstrip("*") for p in out if p.endswith("*")]
    return default[0] if default else out[0]


def postgres_missing() -> str | None:
    for name in ("initdb", "pg_ctl", "postgres", "psql"):
        if not (PG_BIN / name).exists():
            return f"PostgreSQL missing: no {PG_BIN / name} (scripts/infra/install-packages.sh)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"no user {PG_USER} to run PostgreSQL as (scripts/infra/ensure-user.sh)"
    return None


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def chromium_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"Chromium missing: no {path} (scripts/infra/ci-setup.sh --browser)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium missing (scripts/bootstrap.sh --dev)"
    return None
