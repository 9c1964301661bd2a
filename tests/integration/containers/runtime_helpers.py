"""Container-runtime projects and queries shared by the Docker and Podman tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

from tests.integration.local_services import bundle_of

PROJECT = """
[project]
name = "{name}"
default_env = "local"

[services.postgres]
{postgres_extra}

[environments.local]
type = "local"
file_root = "./runs"
{runtime}
"""


LABEL = "io.metalab"


def make(root: Path, name: str, runtime: str = "docker", postgres_extra: str = "") -> Path:
    project = root / name
    project.mkdir()
    line = f'runtime = "{runtime}"' if runtime else ""
    text = PROJECT.format(name=name, runtime=line, postgres_extra=postgres_extra)
    (project / ".metalab.toml").write_text(text)
    return project


def set_runtime(project: Path, runtime: str) -> None:
    path = project / ".metalab.toml"
    path.write_text(re.sub(r'runtime = "\w+"', f'runtime = "{runtime}"', path.read_text()))


def query(project: Path, sql: str) -> list[tuple[Any, ...]]:
    entry = bundle_of(project)["services"]["postgres"]  # type: ignore[index]
    with psycopg.connect(
        host="127.0.0.1",
        port=entry["port"],
        user="metalab",
        dbname="metalab",
        passfile=str(project / "runs/services/run/postgres.pgpass"),
        autocommit=True,
    ) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []
