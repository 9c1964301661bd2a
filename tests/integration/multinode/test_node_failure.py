"""The node running the services dies: `status` says so, the next `up` moves them.

``Cluster.fail`` marks the node DOWN in SLURM and kills everything in it (slurmd, the job,
PostgreSQL) with SIGKILL, as a power loss would. PostgreSQL's data directory is on the shared
filesystem, so the next `up` starts it on the other node with the same data; nothing of the
old job is left running or queued.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.multinode.conftest import Cluster, configure
from tests.integration.slurm.conftest import Project

pytestmark = pytest.mark.slurm


def psql(project: Project, pg: dict[str, Any], sql: str) -> str:
    done = subprocess.run(
        ["psql", "-XAtw", "-h", str(pg["host"]), "-p", str(pg["port"]), "-U", str(pg["user"])]
        + ["-d", str(pg["database"]), "-c", sql],
        capture_output=True,
        text=True,
        env={**project.env, "PGPASSFILE": str(pg["passfile"])},
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def postmasters(data_dir: str) -> int:
    """Live PostgreSQL servers started on ``data_dir`` (their command line names it)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"postgres") and data_dir.encode() in argv:
            count += 1
    return count


def outputs(project: Project) -> str:
    """The jobs' output and the service logs, for a failure message."""
    files = sorted((project.services_dir / "slurm").glob("job-*.out"))
    files += sorted((project.services_dir / "run").glob("*.log"))
    return "\n".join(f"== {f}\n{f.read_text(errors='replace')[-3000:]}" for f in files)


def test_services_node_dies_then_up_moves_them_with_their_data(
    cluster: Cluster, project: Project
) -> None:
    configure(project, postgres={"database": "metalab"}, atlas={})
    first = project.cli("services", "up", "--env", "slurm")
    assert first.returncode == 0, first.stderr
    bundle = project.bundle()
    assert bundle is not None
    job, pg = str(bundle["job_id"]), bundle["services"]["postgres"]
    dead = pg["node"]
    psql(project, pg, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')")

    cluster.fail(dead)
    status = project.cli("services", "status", "--env", "slurm")
    assert status.returncode == 1
    assert "✗ postgres" in status.stdout and "✗ atlas" in status.stdout
    assert f"node {dead} is DOWN" in status.stdout, status.stdout

    started = time.monotonic()
    again = project.cli("services", "up", "--env", "slurm")
    elapsed = time.monotonic() - started
    assert again.returncode == 0, again.stderr + outputs(project)
    moved = project.bundle()
    assert moved is not None and str(moved["job_id"]) != job
    pg2 = moved["services"]["postgres"]
    assert pg2["node"] != dead and pg2["host"] == cluster.address(pg2["node"])
    assert psql(project, pg2, "SELECT v FROM kept") == "before"
    assert list(project.active_jobs()) == [str(moved["job_id"])]
    # One server on the data directory, the new job's, holding the lease.
    assert postmasters(pg2["data_dir"]) == 1
    lease = (project.services_dir / "postgres" / "data.lease").read_text()
    assert f"job {moved['job_id']} on {pg2['node']}" in lease
    print(f"\nnode lost -> services up on {pg2['node']}: {elapsed:.1f}s\n{status.stdout}")
