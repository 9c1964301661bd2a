"""A ``running`` run whose executor is gone shows as ``lost`` (a real process, killed)."""

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

import pytest

from metalab_atlas.liveness import Liveness
from metalab_atlas.query import parse_query
from metalab_atlas.source import RunSource, open_source
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.timeout(180)

CHILD = """
import sys, time
from metalab.core import whereabouts
from metalab._runstore.base import RUNNING, RunRecord, now_iso
from metalab._runstore.locator import resolve_store

# Atlas reads the project's earlier run layout: a run recorded running there, as a sweep
# process would, then this process hangs until it is killed.
RUN = "0123456789abcdef0001"
store = resolve_store(sys.argv[1]).open()
store.put_experiment({"experiment_id": "hung", "name": "hung"}, 2, [RUN, RUN[:-1] + "2"])
store.begin_run(RunRecord("hung", RUN, {"n": 1}, 0, RUNNING, started_at=now_iso(),
                          executor=whereabouts.current()))
print("started", flush=True)
time.sleep(600)
"""


def wait_for(what: Callable[[], bool], description: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {description}")
        time.sleep(0.1)


def running_records(root: Path) -> list[dict[str, object]]:
    found = []
    for path in root.glob("hung/runs/*/run.json"):
        try:
            data = json.loads(path.read_text())
        except ValueError:
            continue
        if data.get("status") == "running":
            found.append(data)
    return found


def kill_while_running(locator: str, root: Path, tmp_path: Path) -> dict[str, object]:
    """Start a real sweep in a child process, SIGKILL it while its first run is running;
    returns that run's record."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(script), locator], cwd=tmp_path, stdout=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: bool(running_records(root)), "the run is recorded running")
        record = running_records(root)[0]
        executor = record["executor"]
        assert isinstance(executor, dict)
        assert executor["host"] == socket.gethostname()
        assert executor["pid"] == child.pid
        assert isinstance(executor["pid_start"], int)
        assert executor["pid_ns"] == os.readlink("/proc/self/ns/pid")
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    return record


def check_lost(source: RunSource, run_id: str) -> None:
    fields = source.fields("hung")
    wait_for(
        lambda: source.experiment("hung")["counts"].get("lost") == 1, "the overview counts it lost"
    )
    assert "running" not in source.experiment("hung")["counts"]
    total, rows = source.runs("hung", parse_query(fields, where=[], status="lost"))
    assert total == 1 and rows[0]["run_id"] == run_id and rows[0]["status"] == "lost"
    assert source.runs("hung", parse_query(fields, where=[], status="running"))[0] == 0
    total, _ = source.runs("hung", parse_query(fields, where=["status:eq:lost"]))
    assert total == 1
    assert source.run("hung", run_id)["status"] == "lost"
    overview = {e["experiment_id"]: e for e in source.experiments()}
    assert overview["hung"]["counts"] == {"lost": 1}


def test_killed_run_is_lost_in_a_file_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    record = kill_while_running(str(root), root, tmp_path)
    source = open_source(str(root))
    try:
        source.start()
        check_lost(source, str(record["run_id"]))
    finally:
        source.close()


def test_killed_run_is_lost_in_postgres(pg_server: PostgresServer, tmp_path: Path) -> None:
    root = tmp_path / "files"
    locator = f"{pg_server.dsn(pg_server.create_database())}&file_root={root}"
    record = kill_while_running(locator, root, tmp_path)
    source = open_source(locator)
    try:
        check_lost(source, str(record["run_id"]))
    finally:
        source.close()


def test_a_live_run_stays_running() -> None:
    me = {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": None}
    liveness = Liveness(jobs=lambda: None)
    assert not liveness.is_lost(me)
    from metalab.core.whereabouts import current

    assert not liveness.is_lost(current())
    reused = {**current(), "pid_start": -1}  # the pid now names another process
    assert liveness.is_lost(reused)


def test_slurm_runs_are_lost_when_squeue_no_longer_lists_them() -> None:
    queue = frozenset({"41", "42_3"})
    liveness = Liveness(jobs=lambda: queue)
    assert not liveness.is_lost({"slurm_job": "41", "host": "cn001", "pid": 1})
    assert not liveness.is_lost({"slurm_job": "42_3"})
    assert liveness.is_lost({"slurm_job": "42_4"})
    assert liveness.is_lost({"slurm_job": "40"})
    unknown = Liveness(jobs=lambda: None)  # no squeue, or it failed: not known to be gone
    assert not unknown.is_lost({"slurm_job": "40"})
    assert not unknown.is_lost({"host": "elsewhere", "pid": 12345})
    here = socket.gethostname()
    assert not unknown.is_lost({"host": here, "pid": 2**22 + 1, "pid_ns": "pid:[1]"})
    assert unknown.is_lost({"host": here, "pid": 2**22 + 1})  # no such pid here
    assert not unknown.is_lost(None)
