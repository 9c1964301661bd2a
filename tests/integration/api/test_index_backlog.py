"""The index of a PostgresStore catches up with the files after PostgreSQL was away.

"Away" is a server that refuses connections (a port nothing listens on): the writes go to the
files, each failed index write leaves a marker, and writers skip the index for ``QUIET``
seconds after a failure. A store on the server that answers then redoes the markers from the
files: every run once, deletions included. The multi-node suite kills a real server mid-sweep
(tests/integration/multinode/test_postgres_dies_mid_sweep.py).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import psycopg
import pytest

from metalab.store import PostgresStore, PostgresStoreConfig, parse_to_config
from metalab.store.index_backlog import PENDING_DIR
from metalab.types import RunRecord
from tests.support.ports import free_port
from tests.support.records import success_record

pytestmark = pytest.mark.postgres

EXP = "backlog:1"


def store(dsn: str, root: Path, *, timeout: float = 10.0) -> PostgresStore:
    config = parse_to_config(f"{dsn}&file_root={root}", experiment_id=EXP)
    assert isinstance(config, PostgresStoreConfig)
    return dataclasses.replace(config, connect_timeout=timeout).connect()


def record(i: int) -> RunRecord:
    return success_record(EXP, i, host="n1")


def indexed(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT run_id FROM runs WHERE record IS NOT NULL ORDER BY run_id")
        return [row[0] for row in rows.fetchall()]


def markers(root: Path) -> list[str]:
    pending = root / "backlog_1" / PENDING_DIR
    return sorted(p.name for p in pending.iterdir() if not p.name.startswith("."))


def test_writes_while_away_are_redone_from_the_files(pg_dsn: str, tmp_path: Path) -> None:
    with store(pg_dsn, tmp_path) as up:
        up.put_run_record(record(0))
        up.put_run_record(record(9))
    # a port free a moment ago: nothing listens there
    away_dsn = pg_dsn.replace(pg_dsn.split("@")[1].split("/")[0], f"127.0.0.1:{free_port()}")
    with store(away_dsn, tmp_path, timeout=1) as away:
        for i in (1, 2, 3):
            away.put_run_record(record(i))
        away.put_derived("run-1", {"score": 0.5})
        away.delete_run("run-9")
        away.put_experiment_manifest(EXP, {"experiment_id": EXP, "total_runs": 3}, "20261205_1")
        assert away.backlog_size() == 6
        down = tmp_path / "backlog_1" / PENDING_DIR / ".down"
        os.utime(down, (0, 0))  # QUIET is over: a catch-up asks the server first
        assert not away.catch_up() and down.stat().st_mtime > 0 and away.backlog_size() == 6
        assert sorted(r.run_id for r in away.list_run_records()) == [
            "run-0",
            "run-1",
            "run-2",
            "run-3",
        ]  # the files answer
    assert markers(tmp_path) == [
        "derived-run-1",
        "manifest-20261205_1",
        "record-run-1",
        "record-run-2",
        "record-run-3",
        "record-run-9",
    ]
    assert indexed(pg_dsn) == ["run-0", "run-9"]

    with store(pg_dsn, tmp_path) as back:
        # Within QUIET of the failures a read does not wait on the index: files.
        assert len(back.list_run_records()) == 4 and indexed(pg_dsn) == ["run-0", "run-9"]
        assert back.catch_up(now=True)
        assert back.backlog_size() == 0 and markers(tmp_path) == []
        assert back.index.get_derived("run-1") == {"score": 0.5}
        assert back.index.get_manifest(EXP) == {"experiment_id": EXP, "total_runs": 3}
        assert sorted(r.run_id for r in back.index.list_records(EXP)) == [
            "run-0",
            "run-1",
            "run-2",
            "run-3",
        ]
        assert back.catch_up()  # nothing left: nothing redone twice
    assert indexed(pg_dsn) == ["run-0", "run-1", "run-2", "run-3"]
