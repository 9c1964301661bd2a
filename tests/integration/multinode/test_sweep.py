"""A sweep's SLURM arrays across the nodes, writing to PostgreSQL served from a compute node.

The services job (PostgreSQL, Atlas) lands on one node; the array tasks run on both, so some
write to PostgreSQL across the bridge, at the address the bundle advertises. The tasks' own
clocks show ``max_concurrent`` holding for the whole cluster, not per node.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

import metalab
from tests.integration.multinode.cluster import PARTITION, Cluster, configure
from tests.integration.multinode.ops import sweep
from tests.integration.slurm.project import Project

pytestmark = pytest.mark.slurm

# Two nodes of nproc CPUs, one taken by the services job: without the limit, more than two
# tasks would run at once.
RUNS, LIMIT, HOLD = 8, 2, 1.5


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant."""
    events = sorted([(t0, 1) for t0, _ in intervals] + [(t1, -1) for _, t1 in intervals])
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def test_sweep_spreads_over_both_nodes_and_writes_to_postgres_on_one(
    cluster: Cluster, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(project, postgres={"database": "metalab"}, atlas={})
    done = project.cli("services", "up", "--env", "slurm")
    assert done.returncode == 0, done.stderr
    bundle = project.bundle()
    assert bundle is not None
    services_node = bundle["services"]["postgres"]["node"]
    locator = str(bundle["store_locator"])
    assert cluster.address(services_node) in locator

    monkeypatch.setenv("SLURM_CONF", str(cluster.conf))  # the sweep's sbatch/squeue go there
    config = metalab.SlurmConfig(
        partition=PARTITION, time="0:10:00", memory="100M", max_concurrent=LIMIT
    )
    started = time.monotonic()
    handle = metalab.run(
        sweep("spread", RUNS, sleep=HOLD), store=locator, executor=metalab.SlurmExecutor(config)
    )
    try:
        results = handle.result(timeout=180)  # read back through PostgreSQL's index
    finally:
        handle.cancel()
    elapsed = time.monotonic() - started
    print(f"\n{RUNS} runs over 2 nodes, max_concurrent={LIMIT}: {elapsed:.1f}s")

    assert Counter(r.status.value for r in results) == {"success": RUNS}
    assert sorted(r.metrics["i"] for r in results) == list(range(RUNS))
    hosts = {r.run_id: r.metrics["host"] for r in results}
    assert set(hosts.values()) == set(cluster.nodes)  # both nodes ran tasks
    others = [rid for rid, host in hosts.items() if host != services_node]
    assert others  # ... and the node without PostgreSQL wrote to it across the network
    intervals = [(float(r.metrics["t0"]), float(r.metrics["t1"])) for r in results]
    assert most_at_once(intervals) == LIMIT

    pg = bundle["services"]["postgres"]
    count = subprocess.run(
        ["psql", "-XAtw", "-h", pg["host"], "-p", str(pg["port"]), "-U", pg["user"]]
        + ["-d", pg["database"], "-c", "SELECT count(*) FROM runs WHERE status <> 'failed'"],
        capture_output=True,
        text=True,
        env={**project.env, "PGPASSFILE": pg["passfile"]},
        timeout=30,
    )
    assert count.stdout.strip() == str(RUNS), count.stderr

    atlas = bundle["services"]["atlas"]
    token = Path(atlas["secret_ref"]).read_text().strip()
    with httpx.Client(
        base_url=atlas["url"], headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as http:
        listed = http.get("/api/experiments")
        assert listed.status_code == 200
        counts = {e["experiment_id"]: e["counts"] for e in listed.json()["experiments"]}
        assert sum(counts["spread:1"].values()) == RUNS and "failed" not in counts["spread:1"]
