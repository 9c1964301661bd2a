"""A real ``metalab.run`` sweep on a PostgresStore, two forked workers, SIGKILLed mid-way as a
job's kill does: once its journals are due, the services' catch-up leaves the index saying of
every run exactly what its record file says (about one kill in two lands between a file write
and its index write; the journals redo it)."""

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

from metalab.core.intent_journal import JOURNAL, STALE
from metalab_orchestrator.index_catch_up import catch_up

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

SWEEP = """
import sys
import time

import metalab


@metalab.operation
def work(params, capture):
    time.sleep(0.002 * (params["i"] % 5))
    capture.metric("y", params["i"])


exp = metalab.Experiment(
    name="killed", version="1", context={}, operation=work,
    params=metalab.grid(i=list(range(5000))), seeds=metalab.seeds(base=1, replicates=1),
)
with metalab.ProcessExecutor(max_workers=2) as executor:
    metalab.run(exp, store=sys.argv[1], executor=executor, verbose=False).result()
"""


def file_statuses(root: Path) -> dict[str, str]:
    found = {}
    for path in root.glob("killed_*/runs/*.json"):
        try:
            found[path.stem] = str(json.loads(path.read_text())["status"])
        except (OSError, ValueError, KeyError):
            continue  # being replaced
    return found


def index_statuses(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT run_id, status FROM runs").fetchall()
    return {str(run_id): str(status) for run_id, status in rows}


def test_a_killed_sweep_leaves_the_index_as_its_files_after_catch_up(
    pg_dsn: str, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    locator = f"{pg_dsn}&file_root={root}"
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB")}
    sweep = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(script), locator],
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(file_statuses(root)) < 200:
            assert time.monotonic() < deadline and sweep.poll() is None
            time.sleep(0.1)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    journals = list(root.glob(f"killed_*/.index-pending/{JOURNAL}*"))
    assert journals  # the sweep's process's and its workers'
    old = time.time() - STALE - 1
    for journal in journals:
        os.utime(journal, (old, old))  # a minute later
    assert (catch_up(locator, str(root)) or 0) >= 1
    files, index = file_statuses(root), index_statuses(pg_dsn)
    assert len(files) >= 200
    assert {
        run: (status, index.get(run)) for run, status in files.items() if index.get(run) != status
    } == {}
