"""The node running the services dies: `status` says so, the next `up` moves them.

``Cluster.fail`` marks the node DOWN in SLURM and kills everything in it (slurmd, the job,
PostgreSQL) with SIGKILL, as a power loss would. PostgreSQL's data directory is on the shared
filesystem, so the next `up` starts it on the other node with the same data; nothing of the
old job is left running or queued.
"""

from __future__ import annotations

import time

import pytest

from tests.integration.multinode.cluster import Cluster, configure
from tests.integration.multinode.ops import outputs, postmasters, psql
from tests.integration.slurm.project import Project

pytestmark = pytest.mark.slurm


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
