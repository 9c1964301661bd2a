"""The FileStore index parses only what changed (docs/store-format.md, "Indexing incrementally")."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from metalab._runstore.file import FileStore
from metalab_atlas.fileindex import FileIndex
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


def test_orderings_follow_changes_without_a_full_sort(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metalab._runstore.base import RunRecord
    from metalab_atlas.evaluate import Ordering
    from metalab_atlas.query import parse_query
    from metalab_atlas.source import FileSource

    store = FileStore(tmp_path)
    all_records = populate(store)
    for i in range(40):  # enough runs for a few changes to be "few"
        store.write_run(
            RunRecord(
                "sweep",
                f"{0xC0 + i:020x}",
                {"opt": f"o{i % 7}"},
                i,
                "completed",
                metrics={"loss": (i * 7919) % 13 / 3},
            )
        )
    source = FileSource(tmp_path)
    source.index.refresh()
    fields = source.fields("sweep")
    sorts = [("metrics.loss", "asc"), ("metrics.loss", "desc"), ("params.opt", "desc")]
    queries = [parse_query(fields, where=[], sort=f, order=o, limit=500) for f, o in sorts]
    for query in queries:
        source.runs("sweep", query)

    changed = all_records[0]
    changed.metrics = {"loss": -1.0}
    store.write_run(changed)
    retried = all_records[2]
    retried.status, retried.metrics, retried.params = "completed", {"loss": 99.0}, {"opt": "zz"}
    store.write_run(retried)
    shutil.rmtree(store.run_dir("sweep", all_records[5].run_id))
    store.write_run(
        RunRecord("sweep", "e" * 20, {"opt": "aa"}, 1, "completed", metrics={"loss": "NaN"})
    )
    source.index.refresh()
    version, rows = source.index.rows("sweep")
    expected_orders = [Ordering.build(rows, q.sort, q.descending).rows for q in queries]
    monkeypatch.setattr(Ordering, "build", None)  # a full sort now would fail
    for query, expected in zip(queries, expected_orders, strict=True):
        before = source.cache.last(("order", "sweep", query.sort.name, query.descending))
        assert before is not None and before[0] < version
        total, page = source.runs("sweep", query)
        assert [r["run_id"] for r in page] == [r["run_id"] for r in expected]
        assert total == len(rows) == 64


def test_filtered_selections_follow_changes_without_a_full_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metalab._runstore.base import RunRecord
    from metalab_atlas import evaluate
    from metalab_atlas.query import parse_query
    from metalab_atlas.source import FileSource

    store = FileStore(tmp_path)
    all_records = populate(store)
    for i in range(40):
        store.write_run(
            RunRecord(
                "sweep",
                f"{0xC0 + i:020x}",
                {"opt": "adam", "lr": 0.01},
                i,
                "completed",
                metrics={"loss": (i * 7919) % 13 / 3},
            )
        )
    source = FileSource(tmp_path)
    source.index.refresh()
    fields = source.fields("sweep")
    queries = [
        parse_query(
            fields,
            where=["params.opt:eq:adam"],
            status="completed",
            sort="metrics.loss",
            order="desc",
            limit=500,
        ),
        parse_query(fields, where=["metrics.loss:gt:1"], sort="run_id", limit=500),
        parse_query(fields, where=[], q="adam", sort="params.lr", limit=500),
    ]
    for query in queries:
        source.runs("sweep", query)

    into = all_records[1]  # adam, completed: its loss moves
    into.metrics = {"loss": 50.0}
    store.write_run(into)
    out = all_records[3]  # adam, completed: leaves the selection
    out.status = "failed"
    store.write_run(out)
    store.write_run(
        RunRecord(
            "sweep", "e" * 20, {"opt": "adam", "lr": 0.5}, 1, "completed", metrics={"loss": 3.0}
        )
    )
    shutil.rmtree(store.run_dir("sweep", f"{0xC1:020x}"))
    source.index.refresh()
    _, rows = source.index.rows("sweep")
    expected = [
        evaluate.Ordering.build(evaluate.select(rows, q), q.sort, q.descending).rows
        for q in queries
    ]
    monkeypatch.setattr(evaluate.Ordering, "build", None)  # a full pass now would fail
    monkeypatch.setattr(evaluate, "select", None)
    for query, want in zip(queries, expected, strict=True):
        total, page = source.runs("sweep", query)
        assert [r["run_id"] for r in page] == [r["run_id"] for r in want]
        assert total == len(want) > 0


@pytest.mark.parametrize("descending", [False, True])
def test_an_ordering_sorted_on_the_fast_path_updates_like_a_full_sort(descending: bool) -> None:
    from metalab_atlas.evaluate import Ordering, Row
    from metalab_atlas.query import Field

    def row(i: int, value: object) -> Row:
        return {"run_id": f"{i:020x}", "params": {}, "metrics": {"m": value}}

    values: list[object] = [3, 1.5, None, 3.0, -2, None, 0, 7, 1.5, 2]
    rows = [row(i, v) for i, v in enumerate(values)]
    field = Field("metrics", "m")
    fast = Ordering.build(rows, field, descending)
    changed = [row(1, None), row(2, 2.5), row(5, "text"), row(6, 3)]
    updated = fast.update({r["run_id"] for r in changed}, changed)
    current = {r["run_id"]: r for r in rows} | {r["run_id"]: r for r in changed}
    full = Ordering.build([current[k] for k in sorted(current)], field, descending)
    assert [r["run_id"] for r in updated.rows] == [r["run_id"] for r in full.rows]
