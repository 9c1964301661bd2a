"""A writer killed between its files and the index leaves its write announced in its journal;
the catch-up redoes it.

A real writer process puts a run's success record while the index write is held by a table lock
on the real PostgreSQL; it is SIGKILLed once the files have the record, as a walltime or an
out-of-memory kill would. The index still says ``running`` (Atlas would show the run lost); the
journal left behind waits ``STALE`` seconds (its age set back here), then the services' catch-up
(`index_catch_up.catch_up`) writes the record from the files and says so in the journal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from metalab.core.intent_journal import JOURNAL, STALE, outstanding
from metalab.store.index_backlog import PENDING_DIR
from metalab_orchestrator.index_catch_up import catch_up, pending_writes

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]

EXP = "intent:1"
REPO = Path(__file__).resolve().parents[3]

WRITER = """
import sys

from metalab.store import parse_to_config
from metalab.types import RunRecord
from tests.support.records import success_record

store = parse_to_config(sys.argv[1], experiment_id=sys.argv[2]).connect()
done = success_record(sys.argv[2], 1)
fields = {k: getattr(done, k) for k in ("run_id", "experiment_id", "context_fingerprint",
          "params_fingerprint", "seed_fingerprint", "params_resolved", "provenance")}
store.put_run_record(RunRecord.running(**fields))
print("running", flush=True)
sys.stdin.readline()
store.put_run_record(done)
print("indexed", flush=True)
"""


def index_status(dsn: str) -> str | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT status FROM runs WHERE run_id = 'run-1'").fetchone()
    return None if row is None else str(row[0])


def file_status(root: Path) -> str | None:
    try:
        return str(json.loads((root / "intent_1" / "runs" / "run-1.json").read_text())["status"])
    except (OSError, ValueError, KeyError):
        return None


def test_a_writer_killed_between_files_and_index_is_redone(pg_dsn: str, tmp_path: Path) -> None:
    root = tmp_path / "store"
    locator = f"{pg_dsn}&file_root={root}"
    writer = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, "-c", WRITER, locator, EXP],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "running"
        assert index_status(pg_dsn) == "running" and pending_writes(str(root)) == 0
        with psycopg.connect(pg_dsn) as lock:
            lock.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")  # the index write waits
            writer.stdin.write("go\n")
            writer.stdin.flush()
            deadline = time.monotonic() + 30
            while file_status(root) != "success":
                assert time.monotonic() < deadline and writer.poll() is None
                time.sleep(0.05)
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            lock.rollback()
    finally:
        writer.kill()
        writer.wait()
    assert index_status(pg_dsn) == "running"  # what Atlas would show as lost
    pending = root / "intent_1" / PENDING_DIR
    [journal] = [p for p in pending.iterdir() if p.name.startswith(JOURNAL)]
    assert [(e["kind"], e["key"]) for e in outstanding(journal.read_bytes())] == [
        ("record", "run-1")
    ]
    assert pending_writes(str(root)) == 0 and catch_up(locator, str(root)) is None  # not yet due
    old = time.time() - STALE - 1
    os.utime(journal, (old, old))  # a minute later
    assert pending_writes(str(root)) == 1
    assert catch_up(locator, str(root)) == 1
    assert index_status(pg_dsn) == "success"
    assert pending_writes(str(root)) == 0 and outstanding(journal.read_bytes()) == []
    assert [p.name for p in pending.iterdir() if not p.name.startswith(".")] == []  # no marker
