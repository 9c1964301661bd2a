"""A local `services up` catches the PostgreSQL index up with runs written while it was down.

Real PostgreSQL through the CLI: runs written to the environment's store while its server is
stopped leave `.index-pending` markers (the files hold the runs); `status` counts them; the next
`up` (fresh, then reusing a healthy bundle) redoes them in the background, and the index holds
every run once. The container runtimes run `catches_up` too (tests/integration/containers/).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.index_catch_up import (
    catches_up,
)
from tests.integration.local_services import cli, make_project

pytestmark = pytest.mark.postgres

PG_ONLY = """
[project]
name = "{name}"
default_env = "local"

[services.postgres]
auth_method = "scram-sha-256"
{postgres_extra}

[environments.local]
type = "local"
file_root = "./runs"
"""


def test_up_catches_the_index_up_after_postgres_was_down(open_tmp: Path) -> None:
    project = make_project(open_tmp, PG_ONLY)
    try:
        catches_up(cli, project)
    finally:
        cli(project, "services", "down", "-q")
