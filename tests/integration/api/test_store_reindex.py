"""`metalab store reindex` on a PostgresStore whose file_root holds both layouts: runs that
`metalab.run` wrote (upstream's layout) and runs of the project's earlier layout. With the
index emptied, the command restores it from the files, and Atlas lists the runs again."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from metalab._runstore import parse_locator
from metalab._runstore.base import COMPLETED, RunRecord
from metalab.capture import Capture
from metalab.executor.thread import ThreadExecutor
from metalab.experiment import Experiment
from metalab.operation import operation
from metalab.params import grid
from metalab.runner import run
from metalab.seeds import seeds
from tests.helpers import run_cli
from tests.integration.atlas.server import running_atlas

pytestmark = pytest.mark.postgres

TABLES = (
    "runs, run_values, run_versions, run_derived, metric_steps, experiment_manifests, experiments"
)


@operation
def square(params: dict[str, Any], capture: Capture) -> None:
    capture.metric("y", params["x"] ** 2)


def earlier_runs(locator: str, name: str, count: int) -> None:
    """``count`` completed runs of experiment ``name`` in the earlier layout."""
    store = parse_locator(locator).open()
    try:
        run_ids = [f"{name}-{i}" for i in range(count)]
        store.put_experiment({"experiment_id": name, "name": name}, count, run_ids)
        for i, run_id in enumerate(run_ids):
            store.write_run(RunRecord(name, run_id, {"i": i}, i, COMPLETED))
    finally:
        store.close()


def indexed(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM runs").fetchone()
    assert row is not None
    return int(row[0])


def atlas_run_ids(locator: str, log: Path, experiment_id: str) -> set[str]:
    with running_atlas(locator, log) as atlas:
        path = f"/api/experiments/{urllib.parse.quote(experiment_id, safe='')}/runs"
        body = httpx.get(f"{atlas.url}{path}", params={"limit": 500}, timeout=10).json()
    return {str(r["run_id"]) for r in body["runs"]}


def test_reindex_restores_both_layouts_after_the_index_is_emptied(
    pg_dsn: str, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    exp = Experiment(
        name="pg",
        version="1",
        context={},
        operation=square,
        params=grid(x=[1, 2, 3]),
        seeds=seeds(base=4, replicates=2),
    )
    with ThreadExecutor(max_workers=2) as executor:
        handle = run(exp, store=pg_dsn, file_root=str(files), executor=executor, verbose=False)
        written = {r.run_id for r in handle.result()}
    close = getattr(handle.store, "close", None)
    if close is not None:
        close()
    locator = f"{pg_dsn}&file_root={files}"
    earlier_runs(locator, "old", 2)
    assert len(written) == 6 and atlas_run_ids(locator, tmp_path / "a1.log", "pg:1") == written

    with psycopg.connect(pg_dsn) as conn:
        conn.execute(f"TRUNCATE {TABLES}")
    assert indexed(pg_dsn) == 0

    done = run_cli("store", "reindex", locator, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert (counts["upstream_runs"], counts["earlier_runs"], counts["runs"]) == (6, 2, 8)
    assert indexed(pg_dsn) == 8
    assert atlas_run_ids(locator, tmp_path / "a2.log", "pg:1") == written

    again = run_cli("store", "reindex", locator, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "(upstream layout: 6, earlier layout: 2)" in again.stdout
    assert indexed(pg_dsn) == 8
