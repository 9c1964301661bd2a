"""A node dies under a running sweep: its array tasks are requeued and no run is lost.

Every run records where it ran; node2 is failed while runs hold both nodes. SLURM requeues the
dead node's array tasks (batch jobs), they run again on node1, and the sweep ends with every
run completed once, the last record of each written on the node that finished it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import cast

import pytest

import metalab
from metalab._sweep.slurm import SlurmExecutor
from tests.integration.multinode.conftest import PARTITION, Cluster

pytestmark = pytest.mark.slurm

RUNS, HOLD = 4, 8.0


def test_tasks_of_a_dead_node_run_again_on_the_other(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Path(tempfile.mkdtemp(prefix="metalab-mn-", dir="/tmp"))
    monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
    executor = cast(
        SlurmExecutor,
        metalab.executor_from_config(
            "slurm", {"partition": PARTITION, "time": "0:10:00", "memory": "100M"}
        ),
    )
    experiment = metalab.Experiment(
        "node-dies",
        "tests.integration.multinode.ops:hold",
        params=metalab.param_list([{"i": i, "sleep": HOLD} for i in range(RUNS)]),
        seeds=[0],
    )
    result = metalab.run(experiment, store=str(store), executor=executor)
    try:
        deadline = time.monotonic() + 60
        while {r.host for r in result.runs() if r.status == "running"} != set(cluster.nodes):
            assert time.monotonic() < deadline, [(r.host, r.status) for r in result.runs()]
            time.sleep(0.2)
        on_node2 = {r.run_id for r in result.runs() if r.host == "node2"}
        cluster.fail("node2")
        result.wait(timeout=180)
        runs = result.runs()
        counts = result.status_counts()
    finally:
        result.cancel()
        shutil.rmtree(store, ignore_errors=True)
    assert counts == {"completed": RUNS}
    assert sorted(r.metrics["i"] for r in runs) == list(range(RUNS))
    assert {r.run_id: r.host for r in runs if r.run_id in on_node2} == dict.fromkeys(
        on_node2, "node1"
    )
