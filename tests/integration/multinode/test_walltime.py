"""The services job reaches its walltime while a sweep runs on the other node.

The services job (node1, a two-minute limit) gets ``SIGUSR1`` from SLURM itself half a minute
before its limit (``--signal=B:USR1@30``). SLURM checks limits every 30 s and sends the signal up
to 30 s earlier than asked, so it comes 60-90 s after the start. (With a one-minute limit it
would come at the first check after the start, sometimes before the batch step exists: SLURM
then drops it and the job runs into TIMEOUT; CI saw that once.) The job stops Atlas, then
PostgreSQL with a fast shutdown, and ends COMPLETED, not TIMEOUT. The sweep's runs on node2 are
held across that moment: those finishing after it write their records to the files and leave
the index writes in the backlog. `status` says why the job ended; the next `up` starts
PostgreSQL without recovery and the index catches up: every run once.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

import metalab
from tests.integration.multinode.cluster import PARTITION, Cluster, configure
from tests.integration.multinode.ops import outputs, psql, sweep, try_psql
from tests.integration.slurm.project import Project

pytestmark = pytest.mark.slurm

RUNS, EARLY = 6, 2  # runs 0-1 before the walltime, the rest held until after it


def test_walltime_of_the_services_job_while_a_sweep_runs(
    cluster: Cluster, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_node1 = {"sbatch_args": ["--nodelist=node1"], "time": "2"}
    configure(project, postgres={"database": "metalab"}, slurm=on_node1)
    assert project.cli("services", "up", "--env", "slurm").returncode == 0
    bundle = project.bundle()
    assert bundle is not None
    job, pg = str(bundle["job_id"]), bundle["services"]["postgres"]
    gate = project.root / "gate"

    monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
    config = metalab.SlurmConfig(
        partition=PARTITION, time="0:10:00", memory="100M", extra_sbatch={"nodelist": "node2"}
    )
    params = {"sleep": 0.5, "gate": str(gate), "gated_from": EARLY}
    handle = metalab.run(
        sweep("walltime", RUNS, **params),
        store=str(bundle["store_locator"]),
        executor=metalab.SlurmExecutor(config),
    )
    try:
        count = "SELECT count(*) FROM runs WHERE record IS NOT NULL AND status = 'success'"
        deadline = time.monotonic() + 90
        while (indexed := try_psql(project, pg, count)).returncode == 0:
            if int(indexed.stdout) >= EARLY:
                break
            assert time.monotonic() < deadline, outputs(project)
            time.sleep(0.5)
        # Else the walltime came first (the sweep's jobs started late on a loaded machine):
        # every run then reaches the index through the backlog, which is checked below too.
        project.wait_no_active_jobs(timeout=180)  # the services job ended by itself
        gate.touch()
        results = handle.result(timeout=120)
    finally:
        handle.cancel()
    # Stopped itself before the limit, not TIMEOUT.
    assert project.jobs()[job] == "COMPLETED", outputs(project)
    output = (project.services_dir / "slurm" / f"job-{job}.out").read_text()
    assert "received SIGUSR1" in output and "postgres stopped" in output
    assert Counter(r.status.value for r in results) == {"success": RUNS}
    assert {r.metrics["host"] for r in results} == {"node2"}

    status = project.cli("services", "status", "--env", "slurm")
    assert status.returncode == 1
    assert "stopped because its walltime was near (SIGUSR1)" in status.stdout, status.stdout
    assert "its services shut down cleanly" in status.stdout

    log = project.services_dir / "run" / "postgres.log"
    offset = log.stat().st_size
    again = project.cli("services", "up", "--env", "slurm")
    assert again.returncode == 0, again.stderr + outputs(project)
    restart = log.read_text()[offset:]
    assert "database system was shut down at" in restart and "automatic recovery" not in restart
    moved = project.bundle()
    assert moved is not None
    out2 = project.services_dir / "slurm" / f"job-{moved['job_id']}.out"
    deadline = time.monotonic() + 60
    while "index caught up" not in out2.read_text():
        assert time.monotonic() < deadline, outputs(project)
        time.sleep(0.2)
    pg2 = moved["services"]["postgres"]
    rows = psql(project, pg2, "SELECT count(DISTINCT run_id), count(*) FROM runs")
    assert rows == f"{RUNS}|{RUNS}"
