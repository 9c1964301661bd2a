"""`metalab.run()` into a PostgreSQL store (index + files), with the user settings' folders."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

import metalab
from tests.integration.sdk import ops
from tests.integration.sdk.ops import statuses

pytestmark = pytest.mark.postgres


def experiment(replicates: int = 2) -> metalab.Experiment:
    return ops.train_sweep("pgsweep", replicates)


def query(locator: str, sql: str) -> Any:
    import psycopg

    dsn = locator.split("&file_root=")[0]
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def test_run_writes_index_and_files_and_never_logs_the_password(
    pg_locator: str, postgres_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "metalab")
    handle = metalab.run(experiment(), store=pg_locator)
    results = handle.result()
    try:
        assert statuses(results) == {"success": 4, "failed": 4}
        rows = query(pg_locator, "SELECT status = 'failed', count(*) FROM runs GROUP BY 1")
        assert sorted(tuple(r) for r in rows) == [(False, 4), (True, 4)]
        done = results.successful[0]
        record = tmp_path / "files" / "pgsweep_1" / "runs" / f"{done.run_id}.json"
        assert json.loads(record.read_text())["status"] == "success"
        assert done.artifact("model") == {"params": done.params}
    finally:
        handle.store.close()  # type: ignore[attr-defined]
    assert "Store: PostgresStore postgresql://metalab@127.0.0.1" in caplog.text
    assert postgres_server.password not in caplog.text


def test_resume_skips_successes(pg_locator: str, caplog: pytest.LogCaptureFixture) -> None:
    metalab.run(experiment(), store=pg_locator).result()
    caplog.set_level(logging.INFO, "metalab")
    caplog.clear()
    handle = metalab.run(experiment(replicates=3), store=pg_locator)
    results = handle.result()
    assert "Runs: 12 total, 4 already completed (resume), 8 to execute" in caplog.text
    assert statuses(results) == {"success": 6, "failed": 6}


def test_workspace_folders_with_a_postgres_store(
    pg_locator: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """file_root at the workspace path: runs are backed up, restored and re-indexed."""
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        f"workspaces: [{{id: w, path: {tmp_path / 'files'}, "
        f"folders: [{{path: {tmp_path / 'backup'}, mode: backup}}]}}]\n"
    )
    monkeypatch.setenv("METALAB_SETTINGS", str(settings))
    metalab.run(experiment(replicates=1), store=pg_locator).result()
    backup = tmp_path / "backup" / "pgsweep_1" / "runs"
    assert len(list(backup.glob("*.json"))) == 2  # the successful runs only
    shutil.rmtree(tmp_path / "files" / "pgsweep_1")
    query(pg_locator, "DELETE FROM runs RETURNING 1")
    caplog.set_level(logging.INFO, "metalab")
    results = metalab.run(experiment(replicates=1), store=pg_locator).result()
    assert "2 already completed (resume, 2 of them restored from folders)" in caplog.text
    assert statuses(results) == {"success": 2, "failed": 2}
    rows = query(pg_locator, "SELECT status = 'failed', count(*) FROM runs GROUP BY 1")
    assert sorted(tuple(r) for r in rows) == [(False, 2), (True, 2)]
