"""A store written by upstream metalab (tests/fixtures/make_upstream_store.py) reads back
record for record, and our FileStore writes the same bytes for the same records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from metalab.schema import dump_artifact_descriptor, dump_run_record
from metalab.store import FileStore, FileStoreConfig

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "upstream_store"
EXPECTED: dict[str, Any] = json.loads((FIXTURE / "expected.json").read_text())
RUN = "a" * 16


@pytest.fixture
def copied(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(FIXTURE, root)
    return root


@pytest.fixture
def store(copied: Path) -> FileStore:
    return FileStoreConfig(root=str(copied)).connect()


def test_records_read_back_exactly(store: FileStore) -> None:
    read = {r.run_id: dump_run_record(r) for r in store.list_run_records()}
    assert read == EXPECTED["runs"]
    assert {r.status.value for r in store.list_run_records()} == {
        "success",
        "failed",
        "cancelled",
        "running",
    }


def test_derived_logs_results_manifest(store: FileStore) -> None:
    assert store.get_derived(RUN) == EXPECTED["derived"][RUN]
    assert {n: store.get_log(RUN, n) for n in store.list_logs(RUN)} == EXPECTED["logs"][RUN]
    results = {n: store.get_result(RUN, n) for n in store.list_results(RUN)}
    assert results == EXPECTED["results"][RUN]
    assert store.get_experiment_manifest("fixture:1.0") == EXPECTED["manifest"]


def test_artifacts(store: FileStore, copied: Path) -> None:
    listed = [dump_artifact_descriptor(a) for a in store.list_artifacts(RUN)]
    assert listed == EXPECTED["artifacts"][RUN]
    uri = listed[0]["uri"].replace("<ROOT>", str(copied))
    assert json.loads(store.get_artifact(uri)) == {"k": 1}


def test_listed_as_experiment(copied: Path) -> None:
    moved = copied.parent / "collection" / "fixture_1.0"
    shutil.move(copied, moved)
    assert FileStoreConfig(root=str(moved.parent)).list_experiments() == ["fixture:1.0"]


def test_rewriting_gives_identical_files(store: FileStore, copied: Path, tmp_path: Path) -> None:
    again = FileStoreConfig(root=str(tmp_path / "again")).connect()
    for record in store.list_run_records():
        again.put_run_record(record)
    again.put_derived(RUN, EXPECTED["derived"][RUN])
    for name, result in EXPECTED["results"][RUN].items():
        again.put_result(
            RUN, name, result["data"], result["dtype"], result["shape"], result["metadata"]
        )
    again.put_experiment_manifest("fixture:1.0", EXPECTED["manifest"], "20260102_030405")
    for sub in ("runs", "derived", "results", "experiments"):
        for path in (copied / sub).rglob("*.json"):
            assert (again.root / path.relative_to(copied)).read_bytes() == path.read_bytes()
