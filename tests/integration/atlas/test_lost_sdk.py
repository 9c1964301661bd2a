"""A run of a real ``metalab.run`` sweep whose worker is killed shows as ``lost`` in a real
Atlas process, for a FileStore and for a PostgresStore; a finished run never does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from metalab.core.process import pid_alive
from tests.integration.atlas.server import running_atlas
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.timeout(180)

SWEEP = """
import sys
import time

import metalab


@metalab.operation
def work(params, capture):
    if params["x"] == 1:
        time.sleep(600)  # hangs until killed
    capture.metric("y", params["x"])


exp = metalab.Experiment(
    name="hang", version="1", context={}, operation=work,
    params=metalab.grid(x=[1, 2]), seeds=metalab.seeds(base=1, replicates=1),
)
with metalab.ProcessExecutor(max_workers=2) as executor:
    metalab.run(exp, store=sys.argv[1], executor=executor, verbose=False).result()
"""


def wait_for(what: Callable[[], bool], description: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {description}")
        time.sleep(0.1)


def records(runs: Path) -> dict[int, dict[str, Any]]:
    """The sweep's run records by ``x`` (a file being replaced is skipped)."""
    found = {}
    for path in runs.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found[data["params_resolved"]["x"]] = data
    return found


def kill_sweep(
    locator: str,
    runs: Path,
    tmp_path: Path,
    indexed: Callable[[dict[int, dict[str, Any]]], bool] = lambda _found: True,
) -> dict[int, dict[str, Any]]:
    """Run the sweep in a child process until run x=1 is running in a worker and x=2 is done
    (in the files, and ``indexed`` says so of the index), then SIGKILL its whole process group
    (worker and parent, as a job's kill does); returns the records by ``x``."""
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB")}
    child = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(script), locator],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def ready() -> bool:
            found = records(runs)
            return (
                found.get(1, {}).get("status") == "running"
                and found.get(2, {}).get("status") == "success"
                and indexed(found)
            )

        wait_for(ready, "run x=1 recorded running and x=2 success")
        found = records(runs)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    executor = found[1]["provenance"]["extra"]["executor"]
    assert found[1]["provenance"]["host"] == socket.gethostname()
    assert executor["host"] == socket.gethostname()
    assert executor["pid"] != child.pid  # the worker's, not the parent's
    assert isinstance(executor["pid_start"], int)
    assert executor["pid_ns"] == os.readlink("/proc/self/ns/pid")
    pids = {data["provenance"]["extra"]["executor"]["pid"] for data in found.values()}
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), f"workers {pids} are gone")
    return found


def check_lost(url: str, experiment_id: str, found: dict[int, dict[str, Any]]) -> None:
    hung, done = found[1]["run_id"], found[2]["run_id"]
    base = f"/api/experiments/{experiment_id}"
    with httpx.Client(base_url=url, timeout=10) as http:

        def counts() -> dict[str, int]:
            answer: dict[str, int] = http.get(base).json()["counts"]
            return answer

        seen: list[dict[str, int]] = []

        def counted_lost() -> bool:
            seen[:] = [counts()]
            return seen[0] == {"lost": 1, "success": 1}

        try:
            wait_for(counted_lost, "the overview counts it lost")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last counts {seen}") from None
        lost = http.get(f"{base}/runs", params={"status": "lost"}).json()
        assert lost["total"] == 1 and lost["runs"][0]["run_id"] == hung
        assert http.get(f"{base}/runs", params={"status": "running"}).json()["total"] == 0
        assert http.get(f"{base}/runs/{hung}").json()["run"]["status"] == "lost"
        finished = http.get(f"{base}/runs/{done}").json()["run"]
        assert finished["status"] == "success"  # its worker is gone too
        overview = {
            e["experiment_id"]: e for e in http.get("/api/experiments").json()["experiments"]
        }
        assert overview[experiment_id]["counts"] == {"lost": 1, "success": 1}


def test_killed_sdk_run_is_lost_in_a_file_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    found = kill_sweep(str(root), root / "hang_1" / "runs", tmp_path)
    with running_atlas(str(root), tmp_path / "atlas.log") as atlas:
        check_lost(atlas.url, "hang_1", found)


def test_killed_sdk_run_is_lost_in_postgres(pg_server: PostgresServer, tmp_path: Path) -> None:
    import psycopg

    files = tmp_path / "files"
    dsn = pg_server.dsn(pg_server.create_database())

    def statuses() -> dict[str, tuple[str, Any]]:
        try:
            with psycopg.connect(dsn) as conn:
                rows = conn.execute("SELECT run_id, status, executor FROM runs").fetchall()
        except psycopg.errors.UndefinedTable:  # the sweep has not opened the store yet
            return {}
        return {run_id: (status, executor) for run_id, status, executor in rows}

    def indexed(found: dict[int, dict[str, Any]]) -> bool:
        # the index is written after the files: killed in between, x=2 would stay `running`
        # there (and lost) until the backlog is caught up
        now = statuses()
        return (
            now.get(found[1]["run_id"], ("",))[0] == "running"
            and now.get(found[2]["run_id"], ("",))[0] == "success"
        )

    found = kill_sweep(f"{dsn}&file_root={files}", files / "hang_1" / "runs", tmp_path, indexed)
    recorded = statuses()
    hung = found[1]
    assert recorded[hung["run_id"]] == ("running", hung["provenance"]["extra"]["executor"])
    with running_atlas(f"{dsn}&file_root={files}", tmp_path / "atlas.log") as atlas:
        check_lost(atlas.url, "hang:1", found)
