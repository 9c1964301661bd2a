"""A node dies under a running sweep: its array tasks are requeued and no run is lost.

Every run marks where it starts and records where it ran; node2 is failed while runs hold both
nodes. SLURM requeues the dead node's array tasks (batch jobs), they run again on node1, and the
sweep ends with every run successful once, the record of each written on the node that
finished it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

import metalab
from tests.integration.multinode.cluster import PARTITION, Cluster
from tests.integration.multinode.ops import sweep

pytestmark = pytest.mark.slurm

RUNS, HOLD = 4, 8.0


def test_tasks_of_a_dead_node_run_again_on_the_other(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Path(tempfile.mkdtemp(prefix="metalab-mn-", dir="/tmp"))
    marks = store / "marks"
    marks.mkdir()
    monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
    config = metalab.SlurmConfig(partition=PARTITION, time="0:10:00", memory="100M")
    handle = metalab.run(
        sweep("node-dies", RUNS, sleep=HOLD, marks=str(marks)),
        store=str(store / "runs"),
        executor=metalab.SlurmExecutor(config),
    )

    def started_on() -> dict[int, str]:
        return {int(p.name.split("@")[0]): p.name.split("@")[1] for p in marks.iterdir()}

    try:
        deadline = time.monotonic() + 60
        while set(started_on().values()) != set(cluster.nodes):
            assert time.monotonic() < deadline, started_on()
            time.sleep(0.2)
        on_node2 = {i for i, host in started_on().items() if host == "node2"}
        cluster.fail("node2")
        results = handle.result(timeout=180)
    finally:
        handle.cancel()
        shutil.rmtree(store, ignore_errors=True)
    assert Counter(r.status.value for r in results) == {"success": RUNS}
    assert sorted(r.metrics["i"] for r in results) == list(range(RUNS))
    finished_on = {r.metrics["i"]: r.metrics["host"] for r in results}
    assert {i: finished_on[i] for i in on_node2} == dict.fromkeys(on_node2, "node1")
