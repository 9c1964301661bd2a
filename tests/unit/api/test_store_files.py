"""FileStore, its layout, configs, locators and export between stores."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from metalab.schema import SCHEMA_VERSION, dump_run_record, get_schema_version, load_run_record
from metalab.store import (
    ConfigRegistry,
    FileStore,
    FileStoreConfig,
    StoreConfig,
    SupportsArtifactOpen,
    SupportsExperimentManifests,
    SupportsLogListing,
    SupportsLogPath,
    SupportsStructuredResults,
    SupportsWorkingDirectory,
    create_store,
    export_store,
    parse_locator,
    parse_to_config,
)
from metalab.types import ArtifactDescriptor, Provenance, RunRecord, Status

T0 = datetime(2026, 5, 1, 12, 0, 0)


def record(run_id: str, experiment_id: str = "exp:1", **metrics: float) -> RunRecord:
    return RunRecord.success(
        run_id=run_id,
        experiment_id=experiment_id,
        started_at=T0,
        finished_at=T0 + timedelta(milliseconds=1500),
        metrics=dict(metrics),
        params_resolved={"x": 1},
        provenance=Provenance(host="h"),
    )


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStoreConfig(root=str(tmp_path), experiment_id="exp:1").connect()


def test_factories_set_status_error_and_duration() -> None:
    ok = record("r1")
    assert (ok.status, ok.duration_ms, ok.error) == (Status.SUCCESS, 1500, None)
    bad = RunRecord.failed(run_id="r2", error_type="E", error_message="m")
    assert bad.status is Status.FAILED
    assert bad.error == {"type": "E", "message": "m", "traceback": None}
    live = RunRecord.running(run_id="r3", started_at=T0)
    assert (live.finished_at, live.duration_ms, live.status) == (T0, 0, Status.RUNNING)
    assert RunRecord.cancelled().status.value == "cancelled"


def test_schema_round_trip_and_old_records() -> None:
    data = dump_run_record(record("r1", loss=0.5))
    assert data["_schema_version"] == SCHEMA_VERSION == get_schema_version(data)
    assert load_run_record(data) == record("r1", loss=0.5)
    old = load_run_record({"run_id": "r", "status": "success", "started_at": T0.isoformat()})
    assert (old.metrics, old.tags, old.provenance, old.started_at) == ({}, [], Provenance(), T0)
    assert get_schema_version({}) == "0.1"


def test_layout_and_meta(store: FileStore, tmp_path: Path) -> None:
    assert store.root == tmp_path / "exp_1"
    for name in ("runs", "derived", "artifacts", "logs", "results", "experiments", ".locks"):
        assert (store.root / name).is_dir()
    meta = json.loads((store.root / "_meta.json").read_text())
    assert meta == {"schema_version": "0.1", "created_by": "metalab", "experiment_id": "exp:1"}


def test_records(store: FileStore) -> None:
    store.put_run_record(record("r1", loss=1.0))
    store.put_run_record(record("r2", experiment_id="other:1"))
    assert store.get_run_record("r1") == record("r1", loss=1.0)
    assert store.get_run_record("nope") is None
    assert [r.run_id for r in store.list_run_records("exp:1")] == ["r1"]
    assert len(store.list_run_records()) == 2
    assert sorted(p.name for p in (store.root / "runs").iterdir()) == ["r1.json", "r2.json"]


def test_concurrent_writes_leave_whole_files(store: FileStore) -> None:
    def write(i: int) -> None:
        for _ in range(20):
            store.put_run_record(record("same", loss=float(i)))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.name for p in (store.root / "runs").iterdir()] == ["same.json"]
    loaded = store.get_run_record("same")
    assert loaded is not None and loaded.metrics["loss"] in {0.0, 1.0, 2.0, 3.0}


def test_artifacts(store: FileStore, tmp_path: Path) -> None:
    src = tmp_path / "plot.png"
    src.write_bytes(b"png")
    meta = {"_run_id": "r1", "dpi": 72}
    desc = ArtifactDescriptor("a1", "plot", "image", "png", "", metadata=meta)
    stored = store.put_artifact(src, desc)
    assert stored.uri == str(store.root / "artifacts" / "r1" / "plot.png")
    assert store.get_artifact(stored.uri) == b"png"
    store.put_artifact(b"{}", ArtifactDescriptor("a2", "cfg", "json", "json", "", metadata=meta))
    listed = store.list_artifacts("r1")
    assert [(a.name, a.metadata) for a in listed] == [("plot", {"dpi": 72}), ("cfg", {"dpi": 72})]
    with store.open_artifact(listed[1].uri) as fh:
        assert fh.read() == b"{}"
    with pytest.raises(FileNotFoundError):
        store.get_artifact(str(tmp_path / "missing"))


def test_logs_results_derived_manifests(store: FileStore) -> None:
    store.put_log("run12345xyz", "stdout", "out")
    store.put_log("run12345xyz", "stderr", "err", label="trial")
    (store.root / "logs" / "run12345xyz").mkdir()
    (store.root / "logs" / "run12345xyz" / "old.txt").write_text("legacy")
    assert (store.root / "logs" / "run12345xyz_stdout.log").read_text() == "out"
    assert store.list_logs("run12345xyz") == ["old", "stderr", "stdout"]
    assert store.get_log("run12345xyz", "stderr") == "err"
    assert store.get_log("run12345xyz", "old") == "legacy"
    assert store.get_log_path("r", "run") == store.root / "logs" / "r_run.log"
    store.put_result("r", "curve", [1, 2], dtype="int", shape=[2])
    assert store.get_result("r", "curve") == {
        "data": [1, 2],
        "dtype": "int",
        "shape": [2],
        "metadata": {},
    }
    assert store.list_results("r") == ["curve"]
    store.put_derived("r", {"d": 1})
    assert store.derived_exists("r") and store.get_derived("r") == {"d": 1}
    store.put_experiment_manifest("exp:1", {"v": 1}, timestamp="20260101_000000")
    assert (store.root / "experiments" / "exp_1_20260101_000000.json").exists()
    assert store.get_experiment_manifest("exp:1") == {"v": 1}
    store.delete_run("run12345xyz")
    assert store.list_logs("run12345xyz") == []


def test_capabilities(store: FileStore) -> None:
    for capability in (
        SupportsWorkingDirectory,
        SupportsExperimentManifests,
        SupportsArtifactOpen,
        SupportsLogPath,
        SupportsStructuredResults,
        SupportsLogListing,
    ):
        assert isinstance(store, capability)


def test_configs_and_registry(tmp_path: Path) -> None:
    config = FileStoreConfig(root=str(tmp_path))
    scoped = config.scoped("e:1")
    assert StoreConfig.from_dict(scoped.to_dict()) == scoped
    with pytest.raises(ValueError, match="already scoped"):
        scoped.scoped("e:2")
    assert ConfigRegistry.get("file") is FileStoreConfig
    assert {"file", "postgresql", "postgres"} <= set(ConfigRegistry.schemes())
    scoped.connect()
    assert config.list_experiments() == ["e:1"]


def test_locators(tmp_path: Path) -> None:
    assert parse_locator(str(tmp_path)).scheme == "file"
    info = parse_locator("postgresql://u:secret@db:5433/x?file_root=/f")
    assert (info.host, info.port, info.user, info.params) == ("db", 5433, "u", {"file_root": "/f"})
    assert "secret" not in repr(info)
    made = create_store(f"file://{tmp_path}", experiment_id="e:1")
    assert isinstance(made, FileStore) and made.root == tmp_path / "e_1"
    with pytest.raises(ValueError, match="Unknown store scheme"):
        parse_to_config("s3://bucket")


def test_export(tmp_path: Path) -> None:
    src = FileStoreConfig(root=str(tmp_path / "a")).connect()
    src.put_run_record(record("r1"))
    src.put_derived("r1", {"d": 2})
    src.put_log("r1", "run", "log")
    progress: list[tuple[int, int]] = []
    counts = export_store(src, str(tmp_path / "b"), progress_callback=lambda *p: progress.append(p))
    assert counts == {"runs": 1, "derived": 1, "logs": 1, "artifacts": 0}
    assert progress == [(1, 1)]
    assert export_store(src, str(tmp_path / "b"))["runs"] == 0
    dst = FileStoreConfig(root=str(tmp_path / "b")).connect()
    assert dst.get_run_record("r1") == record("r1") and dst.get_log("r1", "run") == "log"
