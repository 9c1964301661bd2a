"""Where a local environment's service files are, and whose processes its services are.

Derived from the environment's services directory alone (a bundle, which another process may
have written, never supplies a path this backend opens). Cheap to import: the health checks of
the CLI's fast path use it as the backend does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from metalab_orchestrator.runtime.process import Ownership


def atlas_dir(services_dir: Path) -> Path:
    return services_dir / "atlas"


def run_dir_of(services_dir: Path) -> Path:
    return services_dir / "run"


def data_dir_of(services_dir: Path) -> Path:
    return services_dir / "postgres" / "data"


def log_paths_of(services_dir: Path) -> dict[str, Path]:
    return {
        "postgres": run_dir_of(services_dir) / "postgres.log",
        "atlas": atlas_dir(services_dir) / "atlas.log",
    }


def atlas_owner() -> Ownership:
    """An Atlas this account started: a Python running ``-m metalab_atlas``."""
    interpreter = os.path.basename(os.path.realpath(sys.executable))
    return Ownership(
        frozenset({os.geteuid()}),
        executables=(interpreter, "python3", "python"),
        cmdline=("metalab_atlas",),
    )


def service_owner(name: str, services_dir: Path) -> Ownership:
    from metalab_orchestrator.runtime.pg_layout import server_owner

    if name == "postgres":
        return server_owner(data_dir_of(services_dir))
    return atlas_owner()
