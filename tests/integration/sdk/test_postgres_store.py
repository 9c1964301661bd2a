import json
import logging
from typing import cast

import pytest

from metalab._runstore import PostgresStoreConfig, parse_locator
from metalab._runstore.base import MetricStep, RunRecord
from metalab._runstore.pgschema import SCHEMA_VERSION
from metalab._sdk import legacy as metalab
from metalab.errors import StoreError
from tests.integration.sdk import ops

pytestmark = pytest.mark.postgres


def experiment(seeds: int = 2) -> metalab.Experiment:
    return metalab.Experiment(
        "pgsweep", ops.train, params=metalab.grid(lr=[0.1, 0.2], fail=[False, True]), seeds=seeds
    )


def test_run_writes_records_files_and_index(pg_locator, postgres_server, caplog):
    caplog.set_level(logging.INFO, "metalab")
    result = metalab.run(experiment(), store=pg_locator)
    assert result.status_counts() == {"completed": 4, "failed": 4}
    config = cast(PostgresStoreConfig, parse_locator(pg_locator))
    store = config.open()
    try:
        runs = {r.run_id: r for r in store.read_runs("pgsweep")}
        assert len(runs) == 8
        done = next(r for r in runs.values() if r.status == "completed")
        assert done.metrics["acc"] == pytest.approx(2 / 3) and done.finished_at
        failed = next(r for r in runs.values() if r.status == "failed")
        assert failed.traceback is not None
        assert "asked to fail" in failed.traceback
        assert [s.step for s in store.read_steps("pgsweep", done.run_id)] == [0, 1, 2]
        run_dir = store.run_dir("pgsweep", done.run_id)
        assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"
        assert (run_dir / "logs" / "stdout.txt").read_text().startswith("trained")
        row = store.conn.execute(
            "SELECT count(*) FROM runs WHERE experiment_id = 'pgsweep' "
            "AND params @> '{\"lr\": 0.1}'"
        ).fetchone()
        assert row == (4,)
    finally:
        store.close()
    assert "PostgresStore postgresql://metalab@127.0.0.1" in caplog.text
    assert postgres_server.password not in caplog.text


def test_resume_skips_completed(pg_locator, caplog):
    caplog.set_level(logging.INFO, "metalab")
    metalab.run(experiment(), store=pg_locator)
    caplog.clear()
    result = metalab.run(experiment(seeds=3), store=pg_locator)
    assert "total=12 to_run=8 already_done=4" in caplog.text
    assert result.status_counts() == {"completed": 6, "failed": 6}


def test_local_pool_writes_through_postgres(pg_locator):
    executor = metalab.executor_from_config("local", {"workers": 2})
    result = metalab.run(experiment(seeds=3), store=pg_locator, executor=executor)
    assert result.wait(timeout=120).status_counts() == {"completed": 6, "failed": 6}


def test_reindex_rebuilds_the_index_from_files(pg_locator):
    metalab.run(experiment(), store=pg_locator)
    store = cast(PostgresStoreConfig, parse_locator(pg_locator)).open()
    try:
        store.conn.execute("DELETE FROM runs")
        store.conn.execute("DELETE FROM metric_steps")
        store.conn.execute(
            "INSERT INTO runs (experiment_id, run_id, seed, status) "
            "VALUES ('pgsweep', 'ghost', 0, 'running')"
        )
    finally:
        store.close()
    assert metalab.reindex(pg_locator) == 8
    store = cast(PostgresStoreConfig, parse_locator(pg_locator)).open()
    try:
        states = store.run_states("pgsweep")
        assert len(states) == 8 and "ghost" not in states
        steps = store.conn.execute("SELECT count(*) FROM metric_steps").fetchone()
        assert steps == (24,)
    finally:
        store.close()


def test_schema_creation_is_idempotent_and_versioned(pg_locator):
    for _ in range(2):
        store = cast(PostgresStoreConfig, parse_locator(pg_locator)).open()
        version = store.conn.execute("SELECT max(version) FROM metalab_schema").fetchone()
        store.close()
    assert version == (SCHEMA_VERSION,)


def test_batched_writes_and_non_finite_values(pg_locator):
    store = cast(PostgresStoreConfig, parse_locator(pg_locator)).open()
    try:
        records = [
            RunRecord(
                "batch",
                f"r{i}",
                {"i": i},
                i,
                "completed",
                metrics={"loss": float("nan") if i == 0 else i},
            )
            for i in range(500)
        ]
        store.write_runs(records)
        store.write_steps("batch", "r1", [MetricStep("m", s, s * 0.5, "") for s in range(100)])
        store.write_steps("batch", "r1", [MetricStep("m", 0, 9.0, "")])  # overwrite a step
        assert len(store.run_states("batch")) == 500
        steps = store.read_steps("batch", "r1")
        assert len(steps) == 100 and steps[0].value == 9.0
        assert next(r for r in store.read_runs("batch") if r.run_id == "r0").metrics == {
            "loss": "NaN"
        }
    finally:
        store.close()


def test_bad_credentials_are_one_line_store_errors(postgres_server, tmp_path):
    locator = (
        f"postgresql://metalab:wrong-pass@127.0.0.1:{postgres_server.port}/postgres"
        f"?file_root={tmp_path}"
    )
    with pytest.raises(StoreError) as info:
        parse_locator(locator).open()
    assert "wrong-pass" not in str(info.value) and "\n" not in str(info.value)
    assert "metalab:***@" in str(info.value)


def test_workspace_folders_with_a_postgres_store(pg_locator, tmp_path, monkeypatch, caplog):
    """file_root at the workspace path: runs are backed up, and restored and re-indexed."""
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        f"workspaces: [{{id: w, path: {tmp_path / 'files'}, "
        f"folders: [{{path: {tmp_path / 'backup'}, mode: backup}}]}}]\n"
    )
    monkeypatch.setenv("METALAB_SETTINGS", str(settings))
    metalab.run(experiment(seeds=1), store=pg_locator)
    backup = tmp_path / "backup" / "pgsweep" / "runs"
    assert len(list(backup.iterdir())) == 2  # the completed runs only
    import shutil

    shutil.rmtree(tmp_path / "files" / "pgsweep" / "runs")
    store = cast(PostgresStoreConfig, parse_locator(pg_locator)).open()
    try:
        store.conn.execute("DELETE FROM runs")
    finally:
        store.close()
    caplog.set_level(logging.INFO, "metalab")
    result = metalab.run(experiment(seeds=1), store=pg_locator)
    assert "total=4 to_run=2 already_done=2 (2 restored from folders)" in caplog.text
    assert result.status_counts() == {"completed": 2, "failed": 2}
    assert {r.attempt for r in result.runs() if r.status == "completed"} == {1}
