"""The FileStore index parses only what changed (docs/store-format.md, "Indexing incrementally")."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from metalab.atlas.fileindex import FileIndex
from metalab.store.file import FileStore
from tests.integration.atlas.dataset import populate, records, run_id


def test_refresh_parses_only_new_or_changed_run_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    populate(store)
    index = FileIndex(tmp_path)
    first = index.refresh()
    assert (first.experiments, first.runs, first.parsed) == (2, 24, 24)
    assert index.refresh().parsed == 0

    changed = records()[3]
    changed.status, changed.attempt = "running", 2
    store.write_run(changed)
    again = index.refresh()
    assert again.parsed == 1
    rows = {r["run_id"]: r for r in index.rows("sweep")[1]}
    assert rows[changed.run_id]["status"] == "running"

    shutil.rmtree(store.run_dir("sweep", run_id(5)))
    assert index.refresh().runs == 23
    assert run_id(5) not in {r["run_id"] for r in index.rows("sweep")[1]}


def test_torn_or_foreign_files_are_skipped_and_picked_up_once_whole(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    populate(store)
    index = FileIndex(tmp_path)
    index.refresh()
    broken = store.run_dir("sweep", "f" * 20)
    broken.mkdir(parents=True)
    (broken / "run.json").write_text('{"schema": "metalab.run/1", "params": {')
    (store.run_dir("sweep", run_id(0)) / ".run.json.abc.tmp").write_text("{")
    (tmp_path / "services").mkdir()
    (tmp_path / "notes").mkdir()
    index.refresh()
    assert len(index.rows("sweep")[1]) == 24
    whole = records()[0]
    whole.run_id = "f" * 20
    store.write_run(whole)
    assert index.refresh().parsed == 1 and len(index.rows("sweep")[1]) == 25


def test_experiment_json_is_reread_when_it_changes(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    populate(store)
    index = FileIndex(tmp_path)
    index.refresh()
    spec = {"experiment_id": "sweep", "name": "renamed", "operation": "x:y", "params": {}}
    store.put_experiment(spec, 99)
    path = tmp_path / "sweep" / "experiment.json"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    index.refresh()
    found = index.experiment("sweep")
    assert found is not None and found.spec["name"] == "renamed"
    assert found.spec["total_runs"] == 99


def test_light_refresh_skips_completed_runs_but_sees_retries_and_removals(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    all_records = populate(store)
    index = FileIndex(tmp_path)
    index.refresh()
    version = index.rows("sweep")[0]
    assert index.refresh(full=False).parsed == 0 and index.rows("sweep")[0] == version

    retried = next(r for r in all_records if r.status == "failed")
    retried.status, retried.attempt = "completed", 2
    store.write_run(retried)
    assert index.refresh(full=False).parsed == 1
    version, rows = index.rows("sweep")
    assert {r["run_id"]: r for r in rows}[retried.run_id]["status"] == "completed"

    shutil.rmtree(store.run_dir("sweep", retried.run_id))
    assert index.refresh(full=False).runs == 23 and index.rows("sweep")[0] == version + 1


def test_settled_runs_directory_means_only_unfinished_runs_are_checked(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    all_records = populate(store)
    runs_dir = tmp_path / "sweep" / "runs"
    os.utime(runs_dir, ns=(0, 1_000_000_000))  # long settled
    index = FileIndex(tmp_path)
    index.refresh()
    os.utime(runs_dir, ns=(0, 1_000_000_000))
    failed = next(r for r in all_records if r.status == "failed")
    failed.status, failed.attempt = "running", 2
    store.write_run(failed)  # replaces run.json inside its run directory only
    completed = next(r for r in all_records if r.status == "completed")
    completed.host = "edited-by-hand"
    store.write_run(completed)
    os.utime(runs_dir, ns=(0, 1_000_000_000))
    light = index.refresh(full=False)
    assert light.parsed == 1 and light.runs == 24
    rows = {r["run_id"]: r for r in index.rows("sweep")[1]}
    assert rows[failed.run_id]["status"] == "running"
    assert rows[completed.run_id]["host"] != "edited-by-hand"  # until the next full pass
    assert index.refresh(full=True).parsed == 1
    assert {r["run_id"]: r for r in index.rows("sweep")[1]}[completed.run_id]["host"] == (
        "edited-by-hand"
    )
