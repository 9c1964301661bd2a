"""Preemption in requeue mode.

A job of the higher-tier partition ``urgent`` takes the services job's node: the services job
gets SIGTERM, shuts PostgreSQL down cleanly and is queued again; while it waits `status` says
why, and once it runs again (its BeginTime, ~10 s here; on the other node, as the preemptor
holds its own) `status` follows it with the same data. A sweep task requeued mid-run
(``scontrol requeue``, what the controller does to a preempted job) runs its run again: each
run ends once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

import metalab
from tests.integration.multinode.cluster import PARTITION, Cluster, configure
from tests.integration.multinode.ops import outputs, psql, sweep
from tests.integration.slurm.project import Project

pytestmark = pytest.mark.slurm


def test_services_job_preempted_by_an_urgent_job_comes_back_on_the_other_node(
    cluster: Cluster, project: Project
) -> None:
    configure(project, postgres={"database": "metalab"}, atlas={})
    assert project.cli("services", "up", "--env", "slurm").returncode == 0
    bundle = project.bundle()
    assert bundle is not None
    job, pg = str(bundle["job_id"]), bundle["services"]["postgres"]
    taken = str(pg["node"])
    psql(project, pg, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')")
    whole_node = str(len(os.sched_getaffinity(0)))  # every node has the host's CPUs
    urgent = cluster.slurm(
        "sbatch", "--parsable", "-p", "urgent", "-w", taken, "-c", whole_node,
        "-o", "/dev/null", "--wrap", "sleep 120",
    ).strip()  # fmt: skip
    output = project.services_dir / "slurm" / f"job-{job}.out"
    try:
        started = time.monotonic()
        while "received SIGTERM" not in output.read_text():  # preempted
            assert time.monotonic() - started < 60, outputs(project)
            time.sleep(0.2)
        while project.jobs()[job] != "PENDING":  # requeued: waits for its BeginTime
            assert time.monotonic() - started < 60, outputs(project)
            time.sleep(0.2)
        waiting = project.cli("services", "status", "--env", "slurm")
        assert waiting.returncode == 1
        assert "cancelled, preempted or requeued (SIGTERM)" in waiting.stdout, waiting.stdout
        assert "its services shut down cleanly" in waiting.stdout
        while (status := project.cli("services", "status", "--env", "slurm")).returncode != 0:
            assert time.monotonic() - started < 120, status.stdout + outputs(project)
            time.sleep(1)
        elapsed = time.monotonic() - started
        assert cluster.slurm("squeue", "-h", "-j", urgent, "-o", "%T").strip() == "RUNNING"
    finally:
        cluster.slurm("scancel", urgent, check=False)
    back = project.bundle()
    assert back is not None and str(back["job_id"]) == job
    pg2 = back["services"]["postgres"]
    assert pg2["node"] != taken and pg2["host"] == cluster.address(pg2["node"])
    assert back["services"]["atlas"]["node"] == pg2["node"]
    assert psql(project, pg2, "SELECT v FROM kept") == "before"
    log = (project.services_dir / "run" / "postgres.log").read_text()
    assert "automatic recovery" not in log  # stopped cleanly on SIGTERM, not killed
    print(f"\nservices job preempted -> followed on {pg2['node']}: {elapsed:.1f}s")


def test_requeued_sweep_task_runs_again_without_duplicates(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Path(tempfile.mkdtemp(prefix="metalab-mn-", dir="/tmp"))
    marks = store / "marks"
    marks.mkdir()
    monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
    config = metalab.SlurmConfig(partition=PARTITION, time="0:10:00", memory="100M")
    handle = metalab.run(
        sweep("preempted", 3, sleep=4.0, marks=str(marks)),
        store=str(store / "runs"),
        executor=metalab.SlurmExecutor(config),
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith("1@") for p in marks.iterdir()):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        requeued_at = time.time()
        cluster.slurm("scontrol", "requeue", f"{handle.job_id}_1")
        results = handle.result(timeout=180)
    finally:
        handle.cancel()
        shutil.rmtree(store, ignore_errors=True)
    assert Counter(r.status.value for r in results) == {"success": 3}
    assert sorted(r.metrics["i"] for r in results) == [0, 1, 2]
    again = next(r for r in results if r.metrics["i"] == 1)
    assert float(again.metrics["t0"]) > requeued_at  # its record is the second attempt's
