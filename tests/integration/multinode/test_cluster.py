"""The multi-node cluster itself: separate hosts, a shared filesystem, node faults."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.multinode.cluster import Cluster

pytestmark = pytest.mark.slurm


def test_each_node_is_its_own_host_on_a_shared_filesystem(cluster: Cluster) -> None:
    shared = Path(tempfile.mkdtemp(prefix="metalab-mn-", dir="/tmp"))
    for node in cluster.nodes:
        out = cluster.slurm(
            "srun", "-w", node, "sh", "-c", f"hostname; hostname -I; echo x > {shared}/{node}"
        ).split()
        assert out == [node, cluster.address(node)]
        assert (shared / node).read_text() == "x\n"


def test_fail_and_restore_a_node(cluster: Cluster) -> None:
    cluster.fail("node2")
    assert cluster.node_state("node2").startswith("down")
    assert cluster.slurm("srun", "-p", "mn", "hostname").strip() == "node1"
    started = time.monotonic()
    cluster.restore("node2")
    assert cluster.node_state("node2") == "idle"
    assert time.monotonic() - started < 30
    assert cluster.slurm("srun", "-w", "node2", "hostname").strip() == "node2"
