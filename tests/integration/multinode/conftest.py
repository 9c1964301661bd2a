"""The suite's multi-node SLURM cluster (scripts/infra/multinode-slurm.sh) for these tests.

One cluster per session: slurmctld on the host side, two slurmd "compute nodes" in network
namespaces of their own (node1 at 10.232.0.11, node2 at 10.232.0.12). Its ``SLURM_CONF`` is
given only to the processes these tests start (``Cluster.env``); the process-wide one stays
the single-node test cluster's. A cluster this session brought up is taken down at its end.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.multinode.cluster import (
    MN_DIR,
    NODES,
    SCRIPT,
    Cluster,
    LaptopProject,
    multinode_missing,
)
from tests.integration.slurm.project import Project, throwaway_project
from tests.support.components import postgres_missing, require


@pytest.fixture(scope="session")
def multinode() -> Iterator[Cluster]:
    """Two compute nodes, up for the whole session (reused when already up)."""
    require(multinode_missing())
    started = time.monotonic()
    was_up = (
        subprocess.run(
            ["bash", str(SCRIPT), "status"], capture_output=True, timeout=60, check=False
        ).returncode
        == 0
    )
    done = subprocess.run(
        ["bash", str(SCRIPT), "up"], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        require(f"the multi-node SLURM cluster did not come up: {done.stderr.strip()[-500:]}")
    print(f"\nmulti-node cluster up in {time.monotonic() - started:.2f}s", file=sys.stderr)
    cluster = Cluster(MN_DIR / "etc" / "slurm.conf", NODES)
    try:
        yield cluster
    finally:
        if not was_up:
            subprocess.run(["bash", str(SCRIPT), "down"], capture_output=True, timeout=120)


@pytest.fixture
def cluster(multinode: Cluster) -> Iterator[Cluster]:
    """The session's cluster with every node back up after the test (a test may fail one)."""
    yield multinode
    for node in multinode.nodes:
        state = multinode.node_state(node)
        if state.startswith("down") or state.endswith("*"):
            multinode.restore(node)


@pytest.fixture
def project(cluster: Cluster, tmp_path: Path) -> Iterator[Project]:
    """A throwaway project whose `slurm` environment is the multi-node cluster."""
    require(postgres_missing())
    with throwaway_project(tmp_path, cluster.env, "metalab-mn-", "m") as p:
        yield p


@pytest.fixture
def laptop(project: Project) -> LaptopProject:
    """The ``project`` fixture's project, driven from the laptop namespace."""
    return LaptopProject(project.dir, project.root, project.name, project.env)
