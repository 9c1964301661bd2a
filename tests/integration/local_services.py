"""Helpers for tests of the local services: projects, the CLI, bundles, processes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.helpers import run_cli

PG_ATLAS = """
[project]
name = "{name}"
default_env = "local"

[services.postgres]
auth_method = "scram-sha-256"
{postgres_extra}

[services.atlas]
{atlas_extra}

[environments.local]
type = "local"
file_root = "./runs"
"""


def as_root_env() -> dict[str, str]:
    return {"METALAB__SERVICES__POSTGRES__RUN_AS": "metalab"} if os.geteuid() == 0 else {}


def make_project(root: Path, template: str = PG_ATLAS, **fields: str) -> Path:
    project = root / fields.get("name", "proj")
    project.mkdir()
    values = {"name": project.name, "postgres_extra": "", "atlas_extra": "", **fields}
    (project / ".metalab.toml").write_text(template.format(**values))
    return project


def cli(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=project, env={**as_root_env(), **(env or {})})


def bundle_of(project: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((project / "runs/services/bundle.json").read_text())
    return data


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat_path = Path(f"/proc/{pid}/stat")
    return stat_path.exists() and stat_path.read_text().split(") ")[1][0] not in "ZX"


def pids(bundle: dict[str, object]) -> dict[str, int]:
    services = bundle["services"]
    assert isinstance(services, dict)
    return {name: int(handle["pid"]) for name, handle in services.items()}
