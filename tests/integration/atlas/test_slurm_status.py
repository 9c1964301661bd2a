"""The SLURM badge against the real single-node cluster: a ``metalab.run`` sweep submitted as
a job array (its jobs recorded in the experiment's submission manifest), and runs whose
records name a SLURM job, in a FileStore and in PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from metalab._runstore.base import RunRecord, Store
from metalab._runstore.file import FileStore
from tests.integration.atlas.dataset import populate_locator
from tests.integration.atlas.server import running_atlas
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]
PATIENCE = 120.0  # an upper bound for SLURM to start a task, not a performance assertion


@pytest.fixture(scope="module")
def partition(slurm_partition: str) -> str:
    return slurm_partition


@pytest.fixture
def shared() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="metalab-atlas-slurm-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + PATIENCE
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_sweep_on_slurm_shows_its_job_and_task_states(
    partition: str, shared: Path, browser: Any
) -> None:
    """While the array runs, the experiment names its job and counts running and pending
    tasks, a running run names its task; afterwards the job has left the queue."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import metalab
    from tests.integration.sdk import ops

    config = metalab.SlurmConfig(
        partition=partition, time="0:10:00", memory="200M", max_concurrent=1
    )
    handle = metalab.run(
        ops.sweep("onslurm", ops.slow, 3, sleep=6.0),
        store=str(shared),
        executor=metalab.SlurmExecutor(config),
    )
    try:
        job = handle.job_id
        with (
            running_atlas(str(shared), shared / "atlas.log") as atlas,
            httpx.Client(base_url=atlas.url, timeout=30) as http,
        ):
            base = "/api/experiments/onslurm:1"

            def running() -> dict[str, Any] | None:
                body: dict[str, Any] = http.get(f"{base}/slurm").json()
                return body if body["states"].get("RUNNING") else None

            badge = eventually(running, "a running array task")
            assert badge["slurm"] and badge["jobs"] == [job] and badge["source"] == "manifest"
            assert badge["squeue"] and badge["runs"] == 3
            assert badge["queued"] == sum(badge["states"].values()) <= 3

            def running_run() -> dict[str, Any] | None:
                runs = http.get(f"{base}/runs", params={"status": "running"}).json()["runs"]
                for run in runs:
                    detail: dict[str, Any] = http.get(f"{base}/runs/{run['run_id']}").json()
                    if detail["slurm"] and detail["slurm"]["state"] == "RUNNING":
                        return detail
                return None

            detail = eventually(running_run, "a running run on its task")
            assert detail["slurm"]["job"].startswith(f"{job}_")

            browser.get(f"{atlas.url}/#/e/onslurm%3A1")
            wait = WebDriverWait(browser, 30)
            shown = wait.until(
                lambda d: (
                    d.find_element(By.ID, "slurm-badge").is_displayed()
                    and d.find_element(By.ID, "slurm-badge")
                )
            )
            assert " ".join(shown.text.split()).startswith(f"SLURM job {job} ")
            states = [
                e.get_attribute("data-state")
                for e in browser.find_elements(By.CSS_SELECTOR, "#slurm-badge .slurm-state")
            ]
            assert states and set(states) <= {"RUNNING", "PENDING", "COMPLETING", "CONFIGURING"}

            browser.get(f"{atlas.url}/#/")
            listed = wait.until(
                lambda d: (
                    d.find_element(
                        By.CSS_SELECTOR, "tr[data-experiment] .slurm-badge"
                    ).is_displayed()
                    and d.find_element(By.CSS_SELECTOR, "tr[data-experiment] .slurm-badge")
                )
            )
            assert " ".join(listed.text.split()).startswith(f"SLURM job {job}")

            results = handle.result(timeout=PATIENCE)
            assert sorted(r.status.value for r in results) == ["success"] * 3
            done = eventually(
                lambda: (b := http.get(f"{base}/slurm").json())["queued"] == 0 and b,
                "the job to leave the queue",
            )
            assert done["slurm"] and done["states"] == {} and done["jobs"] == [job]
            finished = http.get(f"{base}/runs/{detail['run']['run_id']}").json()["slurm"]
            assert finished["job"] == detail["slurm"]["job"] and finished["state"] is None
            if accounting():
                assert done["sacct"] is True and list(done["finished"]) == ["COMPLETED"]
                assert finished["final"] == "COMPLETED"
                shown_state, badge_end = "finished: completed", "completed"
            else:  # this test cluster keeps no accounting: no final state is made up
                assert done["sacct"] is False and done["finished"] == {}
                assert finished["sacct"] is False and finished["final"] is None
                shown_state, badge_end = "finished", "finished"
            browser.get(f"{atlas.url}/#/e/onslurm:1/r/{detail['run']['run_id']}")
            cell = wait.until(lambda d: d.find_element(By.ID, "run-slurm"))
            assert " ".join(cell.text.split()) == f"job {finished['job']} {shown_state}"
            browser.get(f"{atlas.url}/#/")
            ended = wait.until(
                lambda d: (
                    (
                        b := d.find_element(By.CSS_SELECTOR, "tr[data-experiment] .slurm-badge")
                    ).text.endswith(badge_end)
                    and b
                )
            )
            assert " ".join(ended.text.split()).startswith(f"SLURM job {job} ")
    finally:
        handle.cancel()


def accounting() -> bool:
    """Whether the cluster keeps job accounting (``sacct`` answers)."""
    done = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, check=False)
    return done.returncode == 0


def records_with_jobs(store: Store, job: str) -> None:
    """One running run on a queued SLURM job, one completed on a job long gone, one local."""
    store.put_experiment({"experiment_id": "jobs", "name": "jobs", "operation": "m:f"}, 3)
    runs = [
        RunRecord("jobs", f"{1:020x}", {"i": 1}, 1, "running", executor={"slurm_job": job}),
        RunRecord("jobs", f"{2:020x}", {"i": 2}, 2, "completed", executor={"slurm_job": "1_0"}),
        RunRecord("jobs", f"{3:020x}", {"i": 3}, 3, "completed", executor={"host": "x"}),
    ]
    for run in runs:
        store.begin_run(run)
    store.write_runs(runs)


@pytest.mark.parametrize("kind", ["file", "postgres"])
def test_runs_recording_a_slurm_job(
    partition: str, shared: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    held = subprocess.run(
        ["sbatch", "--parsable", f"--partition={partition}", "--hold", "--output=/dev/null"]
        + ["--time=0:05:00", "--mem=50M", "--wrap=sleep 300"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    job = held.split(";")[0]
    try:
        if kind == "file":
            locator = str(shared / "store")
            records_with_jobs(FileStore(Path(locator)), job)
        else:
            server: PostgresServer = request.getfixturevalue("pg_server")
            locator = f"{server.dsn(server.create_database())}&file_root={shared / 'files'}"
            populate_locator(locator, lambda store: records_with_jobs(store, job))
        with (
            running_atlas(locator, shared / "atlas.log") as atlas,
            httpx.Client(base_url=atlas.url, timeout=30) as http,
        ):
            badge = http.get("/api/experiments/jobs/slurm").json()
            assert badge["jobs"] == sorted(["1", job]) and badge["source"] == "records"
            assert badge["states"] == {"PENDING": 1} and badge["queued"] == 1
            queued = http.get(f"/api/experiments/jobs/runs/{1:020x}").json()["slurm"]
            assert queued == {
                "job": job,
                "state": "PENDING",
                "squeue": True,
                "final": None,
                "sacct": None,
            }
            gone = http.get(f"/api/experiments/jobs/runs/{2:020x}").json()["slurm"]
            assert gone["job"] == "1_0" and gone["state"] is None and gone["final"] is None
            assert gone["sacct"] is accounting()
            assert http.get(f"/api/experiments/jobs/runs/{3:020x}").json()["slurm"] is None
            other = http.get("/api/experiments").json()["experiments"]
            assert [e["experiment_id"] for e in other] == ["jobs"]
    finally:
        subprocess.run(["scancel", job], capture_output=True, check=False)
