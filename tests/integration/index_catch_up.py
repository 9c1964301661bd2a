"""Waiting for the local index to catch up: a helper shared by tests."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from metalab.store import PostgresStore, PostgresStoreConfig, parse_to_config
from metalab.types import RunRecord
from metalab_orchestrator.index_catch_up import pending_writes
from tests.integration.local_services import bundle_of
from tests.support.records import success_record

EXP = "catchup:1"


WAIT = 60.0


def record(i: int) -> RunRecord:
    return success_record(EXP, i)


def store(locator: str) -> PostgresStore:
    config = parse_to_config(locator, experiment_id=EXP)
    assert isinstance(config, PostgresStoreConfig)
    return dataclasses.replace(config, connect_timeout=1.0).connect()


def dsn(locator: str) -> str:
    """The locator as libpq takes it (without ``file_root``)."""
    parts = urlsplit(locator)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "file_root"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def index_counts(locator: str) -> dict[str, int]:
    with psycopg.connect(dsn(locator), connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT run_id, count(*) FROM runs WHERE record IS NOT NULL GROUP BY run_id"
        ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def wait_indexed(locator: str, root: Path, expected: set[str]) -> dict[str, int]:
    """The index once it holds ``expected`` and no marker waits (or after ``WAIT`` s)."""
    deadline = time.monotonic() + WAIT
    while True:
        counts = index_counts(locator)
        done = set(counts) >= expected and not pending_writes(str(root))
        if done or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


Cli = Callable[..., subprocess.CompletedProcess[str]]


def status(run: Cli, project: Path) -> dict[str, object]:
    result = run(project, "services", "status", "--json")
    data: dict[str, object] = json.loads(result.stdout)
    return data


def catches_up(run: Cli, project: Path) -> None:
    """Runs written while the environment's PostgreSQL is down, then while its port is wrong,
    reach the index after the next `up` (fresh, then reused), each once; `status` counts them."""
    up = run(project, "services", "up")
    assert up.returncode == 0, up.stderr
    locator = str(bundle_of(project)["store_locator"])
    with store(locator) as live:
        live.put_run_record(record(0))
    assert run(project, "services", "down", "-q").returncode == 0

    with store(locator) as away:  # PostgreSQL is down: the files take the runs
        for i in range(1, 6):
            away.put_run_record(record(i))
        assert away.backlog_size() == 5
        assert {r.run_id for r in away.list_run_records()} == {f"run-{i}" for i in range(6)}
    gone = status(run, project)
    assert not gone["found"] and gone["index_pending"] == 5
    text = run(project, "services", "status")
    assert "index: 5 write(s) pending catch-up" in text.stdout

    up = run(project, "services", "up")
    assert up.returncode == 0, up.stderr
    assert "index catch-up: 5 write(s) pending" in up.stderr
    locator = str(bundle_of(project)["store_locator"])
    counts = wait_indexed(locator, project / "runs", {f"run-{i}" for i in range(6)})
    assert counts == {f"run-{i}": 1 for i in range(6)}
    log = (project / "runs/services/index-catch-up.log").read_text()
    assert "index caught up: 5 write(s) redone from the files" in log

    # A healthy bundle is reused, and the index still catches up.
    port = urlsplit(locator).port
    assert port is not None
    with store(locator.replace(f":{port}/", ":1/")) as away:
        for i in (6, 7):
            away.put_run_record(record(i))
    assert status(run, project)["index_pending"] == 2
    again = run(project, "services", "up")
    assert again.returncode == 0 and again.stdout.startswith("Services reused"), again.stderr
    counts = wait_indexed(locator, project / "runs", {f"run-{i}" for i in range(8)})
    assert counts == {f"run-{i}": 1 for i in range(8)}
    after = status(run, project)
    assert after["healthy"] and after["index_pending"] == 0
