"""`metalab services up|status|discover|down --env slurm` with the services on a compute node.

The client is on the host side; PostgreSQL and Atlas run in a job on node1 or node2, in another
network namespace, so only the node's own address reaches them: a bundle advertising
``127.0.0.1`` or the node's name (which does not resolve) fails here.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.multinode.cluster import Cluster, configure
from tests.integration.multinode.ops import psql
from tests.integration.slurm.project import Project

pytestmark = pytest.mark.slurm

PG = {"database": "metalab"}


def up(project: Project, *extra: str) -> subprocess.CompletedProcess[str]:
    return project.cli("services", "up", "--env", "slurm", *extra)


def node_of(cluster: Cluster, job: str) -> str:
    return cluster.slurm("squeue", "-h", "-j", job, "-o", "%N").strip()


def refused_on_loopback(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_services_on_a_compute_node_are_reached_at_its_address(
    cluster: Cluster, project: Project
) -> None:
    configure(project, postgres=PG, atlas={})
    done = up(project)
    assert done.returncode == 0, done.stderr
    bundle = project.bundle()
    assert bundle is not None and bundle["state"] == "ready"
    job = str(bundle["job_id"])
    node = node_of(cluster, job)
    assert node in cluster.nodes
    address = cluster.address(node)
    pg, atlas = bundle["services"]["postgres"], bundle["services"]["atlas"]
    assert pg["host"] == atlas["host"] == address
    assert pg["node"] == atlas["node"] == node
    assert atlas["url"] == f"http://{address}:{atlas['port']}"
    assert f"@{address}:{pg['port']}/" in bundle["store_locator"]
    assert f"{address}:{pg['port']}" in done.stdout + done.stderr
    # Another network namespace: nothing of it listens on the host's loopback.
    assert refused_on_loopback(int(pg["port"])) and refused_on_loopback(int(atlas["port"]))

    assert psql(project, pg, "SELECT 41 + 1") == "42"
    token = Path(atlas["secret_ref"]).read_text().strip()
    health = httpx.get(
        f"{atlas['url']}/api/health", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert health.status_code == 200

    status = project.cli("services", "status", "--env", "slurm")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "✓ postgres" in status.stdout and "✓ atlas" in status.stdout
    assert f"job {job}: RUNNING on {node}" in status.stdout

    found = project.cli("discover", "--env", "slurm", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["store_locator"] == bundle["store_locator"]

    down = project.cli("services", "down", "--env", "slurm")
    assert down.returncode == 0, down.stderr
    assert project.active_jobs() == {} and project.bundle() is None
    log = (project.services_dir / "run" / "postgres.log").read_text()
    assert "database system is shut down" in log


def test_atlas_alone_on_a_compute_node(cluster: Cluster, project: Project) -> None:
    configure(project, slurm={"time": "5:00"})
    done = up(project)
    assert done.returncode == 0, done.stderr
    bundle = project.bundle()
    assert bundle is not None
    atlas = bundle["services"]["atlas"]
    assert atlas["host"] == cluster.address(node_of(cluster, str(bundle["job_id"])))
    status = project.cli("services", "status", "--env", "slurm")
    assert status.returncode == 0 and "✓ atlas" in status.stdout
