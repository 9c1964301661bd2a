"""PostgreSQL dies while a sweep writes to it from the other node: no run is lost.

The services job's postmaster is killed (``SIGKILL``) once the first runs are indexed. The
array tasks on both nodes go on writing their runs to the files; each index write that fails
leaves a marker in the experiment's ``.index-pending``, and within ``QUIET`` seconds of a
failure writers skip the index instead of waiting on it. The job sees PostgreSQL gone and
ends; the handle reads the files meanwhile, so `result()` has every run. The next `services up`
starts PostgreSQL again on the same data (crash recovery), and the new job redoes the pending
writes from the files: the index then holds every run once.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

import metalab
from tests.integration.multinode.cluster import PARTITION, Cluster, configure
from tests.integration.multinode.ops import outputs, psql, sweep
from tests.integration.slurm.project import Project

pytestmark = pytest.mark.slurm

RUNS, HOLD = 12, 1.0


def postmaster_pid(data_dir: str) -> int:
    return int((Path(data_dir) / "postmaster.pid").read_text().split()[0])


def test_postgres_killed_mid_sweep_loses_no_run_and_the_index_catches_up(
    cluster: Cluster, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(project, postgres={"database": "metalab"})
    assert project.cli("services", "up", "--env", "slurm").returncode == 0
    bundle = project.bundle()
    assert bundle is not None
    pg, locator = bundle["services"]["postgres"], str(bundle["store_locator"])

    monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
    config = metalab.SlurmConfig(partition=PARTITION, time="0:10:00", memory="100M")
    handle = metalab.run(
        sweep("pg-dies", RUNS, sleep=HOLD), store=locator, executor=metalab.SlurmExecutor(config)
    )
    count_sql = "SELECT count(*) FROM runs WHERE record IS NOT NULL AND status = 'success'"
    try:
        deadline = time.monotonic() + 120
        while int(psql(project, pg, count_sql)) < 2:
            assert time.monotonic() < deadline, outputs(project)
            time.sleep(0.2)
        os.kill(postmaster_pid(pg["data_dir"]), signal.SIGKILL)
        killed = time.monotonic()
        results = handle.result(timeout=240)
        swept = time.monotonic() - killed
    finally:
        handle.cancel()

    assert Counter(r.status.value for r in results) == {"success": RUNS}
    assert sorted(r.metrics["i"] for r in results) == list(range(RUNS))
    assert set(r.metrics["host"] for r in results) == set(cluster.nodes)
    experiment_dir = next(project.root.glob("pg-dies*"))
    pending = [p.name for p in (experiment_dir / ".index-pending").iterdir()]
    assert any(name.startswith("record-") for name in pending), pending

    started = time.monotonic()
    again = project.cli("services", "up", "--env", "slurm")
    assert again.returncode == 0, again.stderr + outputs(project)
    moved = project.bundle()
    assert moved is not None and moved["job_id"] != bundle["job_id"]
    pg2 = moved["services"]["postgres"]
    job_out = project.services_dir / "slurm" / f"job-{moved['job_id']}.out"
    deadline = time.monotonic() + 60
    while "index caught up" not in job_out.read_text():
        assert time.monotonic() < deadline, outputs(project)
        time.sleep(0.2)
    caught_up = time.monotonic() - started
    rows = psql(project, pg2, "SELECT run_id, status FROM runs WHERE record IS NOT NULL")
    indexed = [line.split("|") for line in rows.splitlines()]
    assert len(indexed) == RUNS  # each run once
    assert {run_id for run_id, _ in indexed} == {r.run_id for r in results}
    assert {status for _, status in indexed} == {"success"}
    assert not [p for p in (experiment_dir / ".index-pending").iterdir() if p.name[0] != "."]
    print(
        f"\nsweep finished {swept:.1f}s after the kill; index caught up {caught_up:.1f}s after up"
    )
