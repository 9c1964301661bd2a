"""The services job is requeued when its node dies, and comes back on the other node.

SLURM requeues a batch job whose node fails; on this cluster it may start again after ~10 s
(``cred_expire=10``, ``sched_interval=2``). The job's second run takes the lease the dead one
lost, recovers PostgreSQL on the shared data directory and reports its new endpoint (same
submission). `status` follows it: the bundle then names the new node's address, `discover`
gives the new locator, and `up` reuses the job instead of submitting another.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.multinode.cluster import Cluster, configure
from tests.integration.multinode.ops import outputs, postmasters, psql
from tests.integration.slurm.project import Project

pytestmark = pytest.mark.slurm


def test_requeued_services_job_is_followed_to_its_new_node(
    cluster: Cluster, project: Project
) -> None:
    configure(
        project,
        postgres={"database": "metalab"},
        atlas={},
        local='password = "requeue-pw"\n',  # a configured password survives the restart
    )
    assert project.cli("services", "up", "--env", "slurm").returncode == 0
    bundle = project.bundle()
    assert bundle is not None
    job, pg = str(bundle["job_id"]), bundle["services"]["postgres"]
    dead = str(pg["node"])
    psql(project, pg, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')")

    cluster.fail(dead)
    started = time.monotonic()
    while True:
        status = project.cli("services", "status", "--env", "slurm")
        if status.returncode == 0:
            break
        assert time.monotonic() - started < 120, status.stdout + outputs(project)
        time.sleep(1)
    elapsed = time.monotonic() - started
    moved = project.bundle()
    assert moved is not None and str(moved["job_id"]) == job
    pg2 = moved["services"]["postgres"]
    alive = next(n for n in cluster.nodes if n != dead)
    assert pg2["node"] == alive and pg2["host"] == cluster.address(alive)
    assert f"job {job}: RUNNING on {alive}" in status.stdout
    assert psql(project, pg2, "SELECT v FROM kept") == "before"

    found = project.cli("discover", "--env", "slurm", "--json")
    assert json.loads(found.stdout)["store_locator"] == moved["store_locator"]
    assert f"@{cluster.address(alive)}:" in moved["store_locator"]

    again = project.cli("services", "up", "--env", "slurm")
    assert again.returncode == 0 and "reused" in again.stdout, again.stderr
    assert list(project.active_jobs()) == [job]
    assert postmasters(pg2["data_dir"]) == 1
    print(f"\nnode lost -> services back on {alive} by requeue: {elapsed:.1f}s")
