"""The file index on experiment directories in upstream metalab's layout: only new or changed
run and derived files are parsed, next to the project's own layout in the same root."""

from __future__ import annotations

import os
from pathlib import Path

from metalab._runstore.file import FileStore
from metalab_atlas.fileindex import FileIndex
from tests.integration.atlas.dataset import populate
from tests.integration.atlas.upstream_data import (
    record,
    upstream_run_id,
    write_derived,
    write_experiment,
    write_manifest,
    write_run,
)

EXPERIMENT = "big:1.0"
DIRECTORY = "big_1.0"
RUNS = 2000


def make_store(root: Path, n: int = RUNS) -> Path:
    base = write_experiment(root, EXPERIMENT, n)
    for i in range(n):
        failed = i % 10 == 0
        write_run(
            base,
            record(
                EXPERIMENT,
                upstream_run_id(i),
                {"lr": [0.01, 0.1][i % 2], "depth": i % 7},
                {} if failed else {"loss": i / n},
                "failed" if failed else "success",
                error="ValueError: diverged" if failed else None,
                host=f"cn{i % 4:03d}",
            ),
        )
    return base


def rows_of(index: FileIndex, experiment: str = DIRECTORY) -> dict[str, dict[str, object]]:
    return {r["run_id"]: r for r in index.rows(experiment)[1]}


def test_a_large_upstream_store_is_parsed_once_then_only_what_changed(tmp_path: Path) -> None:
    base = make_store(tmp_path)
    index = FileIndex(tmp_path)
    first = index.refresh()
    assert (first.experiments, first.runs, first.parsed) == (1, RUNS, RUNS)
    assert index.refresh().parsed == 0
    assert index.refresh(full=False).parsed == 0

    rows = rows_of(index)
    failed = rows[upstream_run_id(10)]
    assert failed["status"] == "failed" and failed["error"] == "ValueError: diverged"
    assert failed["params"] == {"lr": 0.01, "depth": 3} and failed["host"] == "cn002"
    assert rows[upstream_run_id(3)]["metrics"] == {"loss": 3 / RUNS}
    assert rows[upstream_run_id(3)]["duration_s"] == 1.5

    for i in range(0, 100, 10):  # retried: running, then success
        write_run(base, record(EXPERIMENT, upstream_run_id(i), {"lr": 0.5}, {}, "running"))
    assert index.refresh(full=False).parsed == 10
    assert rows_of(index)[upstream_run_id(20)]["status"] == "running"
    assert rows_of(index)[upstream_run_id(20)]["finished_at"] is None  # upstream's placeholder
    write_run(base, record(EXPERIMENT, upstream_run_id(20), {"lr": 0.5}, {"loss": 0.0}))
    assert index.refresh(full=False).parsed == 1
    assert rows_of(index)[upstream_run_id(20)]["status"] == "success"

    (base / "runs" / f"{upstream_run_id(5)}.json").unlink()
    again = index.refresh()
    assert (again.runs, again.parsed) == (RUNS - 1, 0)
    assert upstream_run_id(5) not in rows_of(index)


def test_derived_metrics_are_extra_metric_columns_kept_up_to_date(tmp_path: Path) -> None:
    base = make_store(tmp_path, 200)
    index = FileIndex(tmp_path)
    index.refresh()
    for i in range(1, 6):
        write_derived(base, upstream_run_id(i), {"loss_x2": 2 * i / 200})
    assert index.refresh(full=False).parsed == 5
    row = rows_of(index)[upstream_run_id(3)]
    assert row["metrics"] == {"loss": 3 / 200, "loss_x2": 6 / 200}
    experiment = index.experiment(DIRECTORY)
    assert experiment is not None and "loss_x2" in experiment.fields.metrics

    write_derived(base, upstream_run_id(3), {"loss_x2": 1.0})
    assert index.refresh(full=False).parsed == 1
    assert rows_of(index)[upstream_run_id(3)]["metrics"]["loss_x2"] == 1.0  # type: ignore[index]
    (base / "derived" / f"{upstream_run_id(3)}.json").unlink()
    assert index.refresh().parsed == 1
    assert rows_of(index)[upstream_run_id(3)]["metrics"] == {"loss": 3 / 200}


def test_the_newest_manifest_is_the_overview(tmp_path: Path) -> None:
    base = make_store(tmp_path, 10)
    index = FileIndex(tmp_path)
    index.refresh()
    experiment = index.experiment(DIRECTORY)
    assert experiment is not None and experiment.spec["total_runs"] == 10
    newer = write_manifest(base, EXPERIMENT, "20261206_090000", name="big", version="1.0", total=12)
    os.utime(newer, ns=(2**62, 2**62))
    assert index.refresh().parsed == 0
    experiment = index.experiment(DIRECTORY)
    assert experiment is not None and experiment.spec["total_runs"] == 12


def test_temporary_symlinked_and_foreign_files_are_not_runs(tmp_path: Path) -> None:
    base = make_store(tmp_path, 10)
    outside = tmp_path / "secret.json"
    outside.write_text('{"params_resolved": {"token": "x"}, "metrics": {}, "status": "success"}')
    (base / "runs" / f"{'e' * 16}.json").symlink_to(outside)
    newest = base / "experiments" / "big_1.0_20991231_000000.json"
    newest.symlink_to(outside)  # the newest manifest by name, but not the directory's own
    (base / "runs" / f"{upstream_run_id(1)}.tmp.1a2b3c4d").write_text("{")
    (base / "runs" / "notes.json").write_text("{}")
    (base / "runs" / f"{'f' * 16}.json").write_text('{"params_resolved": {')
    index = FileIndex(tmp_path)
    assert index.refresh().runs == 11  # the torn record waits to be whole
    assert set(rows_of(index)) == {upstream_run_id(i) for i in range(10)}
    experiment = index.experiment(DIRECTORY)
    assert experiment is not None and experiment.spec["total_runs"] == 10
    write_run(base, record(EXPERIMENT, "f" * 16, {"lr": 1.0}, {}, "running"))
    assert index.refresh(full=False).parsed == 1
    assert rows_of(index)["f" * 16]["status"] == "running"


def test_a_directory_that_changes_layout_is_read_afresh(tmp_path: Path) -> None:
    base = make_store(tmp_path, 5)
    index = FileIndex(tmp_path)
    index.refresh()
    before = index.rows(DIRECTORY)[0]
    (base / "experiment.json").write_text('{"experiment_id": "big_1.0", "total_runs": 0}')
    index.refresh()
    version, rows = index.rows(DIRECTORY)
    assert rows == [] and version > before
    experiment = index.experiment(DIRECTORY)
    assert experiment is not None and not experiment.upstream


def test_both_layouts_side_by_side(tmp_path: Path) -> None:
    populate(FileStore(tmp_path))
    make_store(tmp_path, 30)
    (tmp_path / "half_done").mkdir()  # neither layout: not an experiment
    index = FileIndex(tmp_path)
    stats = index.refresh()
    assert stats.experiments == 3
    found = {e.experiment_id: e for e in index.experiments()}
    assert set(found) == {"sweep", "other", DIRECTORY}
    assert found[DIRECTORY].upstream and not found["sweep"].upstream
    assert len(rows_of(index)) == 30 and len(rows_of(index, "sweep")) == 24
