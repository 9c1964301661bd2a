"""``advertise``: which of a node's addresses the services job advertises when it has several.

node2 gets a second interface, ``eth1`` at 10.234.0.12, on a link of its own to the host side
(10.234.0.1), as a cluster node may have Ethernet and InfiniBand. Its route to the submit side
goes through ``eth0``, so without the key the job advertises 10.232.0.12; ``advertise`` names
the interface or its network, and the client then reaches the services at 10.234.0.12. A node
without the interface fails the job at once with the reason, and a malformed value is refused
before anything is submitted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.integration.multinode.cluster import Cluster, configure
from tests.integration.multinode.ops import psql
from tests.integration.slurm.project import Project

pytestmark = pytest.mark.slurm

HOST_LINK = "mlmn-n2b"  # host side of the second link; deleting it deletes node2's eth1
SECOND = "10.234.0.12"


def ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=30)


@pytest.fixture
def second_interface(cluster: Cluster) -> Iterator[str]:
    """node2's eth1 at 10.234.0.12, linked to the host side's 10.234.0.1."""
    subprocess.run(["ip", "link", "del", HOST_LINK], capture_output=True, timeout=30)
    ip("link", "add", HOST_LINK, "type", "veth", "peer", "name", "eth1", "netns", "mlmn-node2")
    try:
        ip("addr", "add", "10.234.0.1/24", "dev", HOST_LINK)
        ip("link", "set", HOST_LINK, "up")
        ip("-n", "mlmn-node2", "addr", "add", f"{SECOND}/24", "dev", "eth1")
        ip("-n", "mlmn-node2", "link", "set", "eth1", "up")
        yield SECOND
    finally:
        subprocess.run(["ip", "link", "del", HOST_LINK], capture_output=True, timeout=30)


def up(project: Project) -> subprocess.CompletedProcess[str]:
    return project.cli("services", "up", "--env", "slurm")


@pytest.mark.parametrize("advertise", ["eth1", "10.234.0.0/24"])
def test_advertise_picks_the_second_interface(
    cluster: Cluster, project: Project, second_interface: str, advertise: str
) -> None:
    on_node2 = {"sbatch_args": ["--nodelist=node2"], "advertise": advertise}
    configure(project, postgres={"database": "metalab"}, slurm=on_node2)
    done = up(project)
    assert done.returncode == 0, done.stderr
    bundle = project.bundle()
    assert bundle is not None
    pg = bundle["services"]["postgres"]
    assert pg["node"] == "node2" and pg["host"] == second_interface
    assert f"@{second_interface}:" in bundle["store_locator"]
    assert psql(project, pg, "SELECT inet_server_addr()") == second_interface
    output = (project.services_dir / "slurm" / f"job-{bundle['job_id']}.out").read_text()
    assert f"advertising {second_interface} (advertise = '{advertise}')" in output


def test_advertise_on_a_node_without_it_fails_with_the_reason(
    cluster: Cluster, project: Project
) -> None:
    on_node1 = {"sbatch_args": ["--nodelist=node1"], "advertise": "eth1"}
    configure(project, postgres={"database": "metalab"}, slurm=on_node1)
    done = up(project)
    assert done.returncode != 0
    assert "advertise = 'eth1': node node1 has no address on interface eth1" in done.stderr
    assert "eth0 10.232.0.11" in done.stderr
    assert "Traceback" not in done.stderr
    project.wait_no_active_jobs()


def test_malformed_advertise_is_refused_before_submitting(project: Project) -> None:
    configure(project, postgres={"database": "metalab"}, slurm={"advertise": "eth 1"})
    done = up(project)
    assert done.returncode == 2
    assert "environments.slurm.advertise" in done.stderr and "interface name" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert project.jobs() == {}
