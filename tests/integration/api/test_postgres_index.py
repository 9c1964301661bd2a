"""PostgresStore against a real PostgreSQL: files first, the index Atlas reads second."""

from __future__ import annotations

import json
import logging
import math
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from metalab.schema import dump_run_record
from metalab.store import FileStoreConfig, PostgresStore, PostgresStoreConfig, parse_to_config
from metalab.types import Provenance, RunRecord
from metalab_atlas.pgsource import PostgresSource
from metalab_atlas.query import parse_query

pytestmark = pytest.mark.postgres

EXP = "sweep:1.0"
T0 = datetime(2026, 3, 1, 9, 30)


def records(experiment_id: str = EXP) -> list[RunRecord]:
    common: dict[str, Any] = {
        "experiment_id": experiment_id,
        "context_fingerprint": "ctx",
        "seed_fingerprint": "seed",
        "provenance": Provenance(host="node-7"),
    }
    return [
        RunRecord.success(
            run_id=f"{experiment_id[:3]}-ok",
            params_fingerprint="p1",
            started_at=T0,
            finished_at=T0 + timedelta(seconds=3),
            metrics={"loss": 0.25, "nan": float("nan")},
            params_resolved={"lr": 0.1, "opt": "adam"},
            **common,
        ),
        RunRecord.failed(
            run_id=f"{experiment_id[:3]}-bad",
            params_fingerprint="p2",
            started_at=T0,
            finished_at=T0 + timedelta(seconds=1),
            error_type="ValueError",
            error_message="diverged",
            error_traceback="Traceback (most recent call last): ...",
            params_resolved={"lr": 10.0, "opt": "sgd"},
            **common,
        ),
        RunRecord.running(
            run_id=f"{experiment_id[:3]}-live",
            params_fingerprint="p3",
            started_at=T0,
            params_resolved={"lr": 0.5},
            **common,
        ),
    ]


def connect(dsn: str, root: Path, experiment_id: str | None = EXP) -> PostgresStore:
    config = parse_to_config(f"{dsn}&file_root={root}", experiment_id=experiment_id)
    assert isinstance(config, PostgresStoreConfig)
    return config.connect()


def atlas_locator(dsn: str, root: Path) -> str:
    return f"{dsn}&file_root={root}"


def test_runs_show_in_atlas(pg_dsn: str, tmp_path: Path) -> None:
    with connect(pg_dsn, tmp_path) as store:
        for record in records():
            store.put_run_record(record)
        store.put_derived("swe-ok", {"score": 0.75})
        store.put_experiment_manifest(
            EXP,
            {
                "experiment_id": EXP,
                "name": "sweep",
                "version": "1.0",
                "description": "lr sweep",
                "operation": {"ref": "m:train", "name": "train", "code_hash": "h"},
                "total_runs": 4,
                "run_ids": ["a", "b"],
                "submitted_at": T0.isoformat(),
            },
            timestamp="20260301_093000",
        )
        assert (tmp_path / "sweep_1.0" / "runs" / "swe-ok.json").exists()
    atlas = PostgresSource(atlas_locator(pg_dsn, tmp_path))
    try:
        [card] = atlas.experiments()
        assert (card["experiment_id"], card["name"], card["operation"]) == (EXP, "sweep", "train")
        assert card["counts"] == {"success": 1, "failed": 1, "running": 1}
        assert (card["total_runs"], card["pending"]) == (4, 1)
        query = parse_query(
            atlas.fields(EXP), where=["params.lr:lt:1"], sort="metrics.loss", limit=10
        )
        total, rows = atlas.runs(EXP, query)
        assert [r["run_id"] for r in rows] == ["swe-ok", "swe-live"] and total == 2
        ok = rows[0]
        assert ok["metrics"] == {"loss": 0.25, "nan": "NaN", "score": 0.75}
        assert (ok["host"], ok["duration_s"], ok["params"]["opt"]) == ("node-7", 3.0, "adam")
        everything = parse_query(atlas.fields(EXP), where=[], sort="status", limit=10)
        [bad] = [r for r in atlas.runs(EXP, everything)[1] if r["status"] == "failed"]
        assert (bad["run_id"], bad["error"]) == ("swe-bad", "ValueError: diverged")
    finally:
        atlas.close()


def test_reads_come_back_as_written(pg_dsn: str, tmp_path: Path) -> None:
    with connect(pg_dsn, tmp_path) as store:
        written = records()[:2]
        for record in written:
            store.put_run_record(record)
        store.put_derived("swe-ok", {"score": 1})
        from_index = store.index.get_record("swe-bad")
        assert from_index is not None
        assert dump_run_record(from_index) == dump_run_record(written[1])
        assert {r.run_id for r in store.index.list_records(EXP)} == {"swe-ok", "swe-bad"}
        ok = store.index.get_record("swe-ok")
        assert ok is not None and math.isnan(float(ok.metrics["nan"]))
        assert store.index.get_derived("swe-ok") == {"score": 1}
        assert store.run_exists("swe-ok") and not store.index.record_exists("nope")
        store.delete_run("swe-bad")
        assert store.get_run_record("swe-bad") is None


def test_rebuild_index_from_files(pg_dsn: str, tmp_path: Path) -> None:
    files = FileStoreConfig(root=str(tmp_path))
    for experiment_id in (EXP, "other:2"):
        scoped = files.for_experiment(experiment_id).connect()
        for record in records(experiment_id):
            scoped.put_run_record(record)
    files.for_experiment(EXP).connect().put_derived("swe-ok", {"score": 2.0})
    with connect(pg_dsn, tmp_path, experiment_id=None) as store:
        phases: list[str] = []
        assert store.rebuild_index(lambda phase, done, total: phases.append(phase)) == 6
        assert "Rebuilding field catalog" in phases
        assert len(store.list_run_records()) == 6
        assert store.index.get_derived("swe-ok") == {"score": 2.0}
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO runs (experiment_id, run_id, seed, status) "
            "VALUES ('legacy', 'r', 1, 'completed')"
        )
        conn.execute("DELETE FROM runs WHERE run_id = 'oth-ok'")
        counted = conn.execute("SELECT count(*) FROM run_values WHERE run_id = 'swe-ok'").fetchone()
        assert counted == (4,)  # params.lr, params.opt, metrics.loss, metrics.score
    with connect(pg_dsn, tmp_path, experiment_id="other:2") as scoped_store:
        assert scoped_store.rebuild_index() == 3
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT experiment_id, count(*) FROM runs GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert rows == [("legacy", 1), ("other:2", 3), (EXP, 3)]


def test_index_outage_falls_back_to_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = PostgresStoreConfig(
        connection_string="postgresql://nobody:s3cret@127.0.0.1:1/none",
        file_root=str(tmp_path),
        experiment_id=EXP,
        connect_timeout=0.5,
        pool_min_size=0,
    )
    with caplog.at_level(logging.DEBUG), config.connect() as store:
        record = records()[0]
        store.put_run_record(record)
        found = store.get_run_record(record.run_id)
        assert found is not None and found.run_id == record.run_id
        assert store.run_exists(record.run_id)
    assert "s3cret" not in caplog.text and "s3cret" not in repr(config)


def test_schema_upgrade_is_idempotent(pg_dsn: str, tmp_path: Path) -> None:
    with connect(pg_dsn, tmp_path) as first:
        first.put_run_record(records()[0])
    with connect(pg_dsn, tmp_path) as again:
        assert again.get_run_record("swe-ok") is not None
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT record FROM runs WHERE run_id = 'swe-ok'").fetchone()
    assert row is not None and json.dumps(row[0])


def test_discover_writes_where_atlas_reads(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metalab.core.bundle.files import write_bundle

    for name in [n for n in os.environ if n.startswith("METALAB")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("METALAB_HOME", str(tmp_path / "home"))
    project = tmp_path / "project"
    (project / "deep").mkdir(parents=True)
    locator = atlas_locator(pg_dsn, tmp_path / "files")
    write_bundle(
        project / "services" / "bundle.json",
        {"project": "project", "environment": "local", "store_locator": locator},
    )
    monkeypatch.chdir(project / "deep")
    config = parse_to_config("discover", experiment_id=EXP)
    assert isinstance(config, PostgresStoreConfig)
    assert "passfile=" in config.connection_string
    assert config.file_root == str(tmp_path / "files")
    with config.connect() as store:
        store.put_run_record(records()[0])
    atlas = PostgresSource(locator)
    try:
        assert [c["experiment_id"] for c in atlas.experiments()] == [EXP]
    finally:
        atlas.close()
