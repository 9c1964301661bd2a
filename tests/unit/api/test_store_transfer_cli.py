"""`metalab store export|import|list` between file stores: flags, layouts, bad input."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from metalab._cli.main import main
from metalab.schema import dump_run_record
from metalab.store import FileStore, FileStoreConfig, export_store
from metalab.types import RunRecord

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "upstream_store"
T0 = datetime(2026, 4, 1, 12, 0)


def invoke(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(previous)
    return code, out.getvalue(), err.getvalue()


def record(run_id: str, experiment_id: str, loss: float) -> RunRecord:
    return RunRecord.success(
        run_id=run_id,
        experiment_id=experiment_id,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=1),
        metrics={"loss": loss},
        params_resolved={"lr": loss / 10},
    )


def scoped(root: Path, experiment_id: str) -> FileStore:
    return FileStoreConfig(root=str(root), experiment_id=experiment_id).connect()


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    """Two experiments under one root, as `metalab.run(exp, store=root)` leaves them."""
    root = tmp_path / "experiments"
    first = scoped(root, "sweep:1.0")
    for i in range(3):
        first.put_run_record(record(f"s{i}", "sweep:1.0", 0.1 * (i + 1)))
    first.put_derived("s0", {"best": True})
    first.put_log("s0", "stdout", "out\n")
    first.put_result("s0", "curve", [1, 2], "int64", [2], {"unit": "s"})
    manifest = {"name": "sweep", "total_runs": 3}
    first.put_experiment_manifest("sweep:1.0", manifest, "20260401_120000")
    scoped(root, "other:2").put_run_record(record("o0", "other:2", 0.5))
    return root


def dumped(store: FileStore) -> dict[str, object]:
    return {r.run_id: dump_run_record(r) for r in store.list_run_records()}


def test_list(collection: Path, tmp_path: Path) -> None:
    code, out, _ = invoke("store", "list", "--store", str(collection))
    assert code == 0 and out == "Experiments:\n  other:2\n  sweep:1.0\n"
    code, out, _ = invoke("store", "list", "-s", f"file://{collection / 'sweep_1.0'}", "--json")
    assert code == 0 and json.loads(out) == {"experiments": ["sweep:1.0"]}
    (tmp_path / "empty").mkdir()
    assert invoke("store", "list", "-s", str(tmp_path / "empty"))[1] == "No experiments found\n"


def test_list_reads_a_flat_store(tmp_path: Path) -> None:
    flat = FileStoreConfig(root=str(tmp_path / "flat")).connect()
    flat.put_run_record(record("f1", "a:1", 0.1))
    flat.put_run_record(record("f2", "b:1", 0.2))
    code, out, _ = invoke("store", "list", "-s", str(tmp_path / "flat"), "--json")
    assert code == 0 and json.loads(out) == {"experiments": ["a:1", "b:1"]}
    code, out, _ = invoke(
        "store", "export", "-f", str(tmp_path / "flat"), "-t", str(tmp_path / "b")
    )
    assert code == 0 and "runs: 2" in out
    assert [r.run_id for r in scoped(tmp_path / "b", "b:1").list_run_records()] == ["f2"]


def test_export_a_collection(collection: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    code, out, err = invoke("store", "export", "--from", str(collection), "--to", str(backup))
    assert code == 0, err
    assert out.splitlines() == [
        "Export complete:",
        "  runs: 4",
        "  skipped: 0",
        "  derived: 1",
        "  logs: 1",
        "  artifacts: 0",
        "  results: 1",
        "  manifests: 1",
    ]
    assert "Exporting: 4/4" in err
    for experiment_id in ("sweep:1.0", "other:2"):
        assert dumped(scoped(backup, experiment_id)) == dumped(scoped(collection, experiment_id))
    copy = scoped(backup, "sweep:1.0")
    assert copy.get_derived("s0") == {"best": True}
    assert copy.get_log("s0", "stdout") == "out\n"
    assert copy.get_result("s0", "curve") == {
        "data": [1, 2],
        "dtype": "int64",
        "shape": [2],
        "metadata": {"unit": "s"},
    }
    assert copy.get_experiment_manifest("sweep:1.0") == {"name": "sweep", "total_runs": 3}
    assert (copy.root / "experiments" / "sweep_1.0_20260401_120000.json").exists()
    assert FileStoreConfig(root=str(backup)).list_experiments() == ["other:2", "sweep:1.0"]


def test_rerun_skips_and_overwrite_replaces(collection: Path, tmp_path: Path) -> None:
    backup = str(tmp_path / "backup")
    assert invoke("store", "export", "-f", str(collection), "-t", backup)[0] == 0
    code, out, _ = invoke("store", "import", "-f", str(collection), "-t", backup, "--json")
    assert code == 0 and json.loads(out)["skipped"] == 4 and json.loads(out)["runs"] == 0
    scoped(collection, "other:2").put_run_record(record("o0", "other:2", 0.9))
    code, out, _ = invoke("store", "import", "-f", str(collection), "-t", backup, "--overwrite")
    assert code == 0 and out.startswith("Import complete:\n  runs: 4\n")
    changed = scoped(Path(backup), "other:2").get_run_record("o0")
    assert changed is not None and changed.metrics == {"loss": 0.9}


def test_experiment_filter_and_exclusions(collection: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup"
    args = ["-f", str(collection), "-t", str(backup), "--no-include-logs", "--no-include-derived"]
    code, out, err = invoke("store", "export", *args, "-e", "sweep_1.0", "--json")
    assert code == 0, err
    counts = json.loads(out)
    assert (counts["runs"], counts["logs"], counts["derived"]) == (3, 0, 0)
    assert FileStoreConfig(root=str(backup)).list_experiments() == ["sweep:1.0"]
    copy = scoped(backup, "sweep:1.0")
    assert copy.get_log("s0", "stdout") is None and copy.get_derived("s0") is None


def test_logs_in_every_form_are_copied(tmp_path: Path) -> None:
    source = scoped(tmp_path / "src", "logs:1")
    run_ids = ["0123456789abcdef", "fedcba9876543210"]
    for run_id in run_ids:
        source.put_run_record(record(run_id, "logs:1", 0.1))
        source.put_log(run_id, "stdout", f"{run_id} out")
        source.put_log(run_id, "my_log", "underscored")
    assert invoke("store", "export", "-f", str(tmp_path / "src"), "-t", str(tmp_path / "a"))[0] == 0
    source.put_log(run_ids[0], "stderr", "labelled", label="train")
    (source.root / "logs" / run_ids[1]).mkdir()
    (source.root / "logs" / run_ids[1] / "old.txt").write_text("nested")
    assert invoke("store", "export", "-f", str(tmp_path / "src"), "-t", str(tmp_path / "b"))[0] == 0
    for copy_root, extra in ((tmp_path / "a", {}), (tmp_path / "b", {"stderr": "labelled"})):
        copy = scoped(copy_root, "logs:1")
        logs = {name: copy.get_log(run_ids[0], name) for name in copy.list_logs(run_ids[0])}
        assert logs == {"stdout": f"{run_ids[0]} out", "my_log": "underscored", **extra}
    nested = scoped(tmp_path / "b", "logs:1").get_log(run_ids[1], "old")
    assert nested == "nested"


def test_unknown_experiment_suggests(collection: Path, tmp_path: Path) -> None:
    code, _, err = invoke(
        "store", "export", "-f", str(collection), "-t", str(tmp_path / "b"), "-e", "sweep:1"
    )
    assert code == 2 and err.count("\n") == 1
    assert "no experiment 'sweep:1'" in err and "did you mean sweep:1.0" in err
    assert not (tmp_path / "b").exists()


def test_upstream_fixture_with_artifacts(tmp_path: Path) -> None:
    """An experiment directory written by upstream (its artifact URIs from another machine)."""
    source = tmp_path / "fixture_1.0"
    shutil.copytree(FIXTURE, source)
    backup = tmp_path / "backup"
    code, out, err = invoke(
        "store", "export", "-f", str(source), "-t", str(backup), "--include-artifacts", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["artifacts"] == 1 and json.loads(out)["runs"] == 4
    copy = scoped(backup, "fixture:1.0")
    expected = json.loads((FIXTURE / "expected.json").read_text())
    assert dumped(copy) == expected["runs"]
    [artifact] = copy.list_artifacts("a" * 16)
    assert artifact.uri == str(copy.root / "artifacts" / ("a" * 16) / "table.json")
    assert json.loads(copy.get_artifact(artifact.uri)) == {"k": 1}


def test_destination_of_another_experiment_is_refused(collection: Path, tmp_path: Path) -> None:
    theirs = scoped(tmp_path / "elsewhere", "mine:1")
    code, _, err = invoke("store", "export", "-f", str(collection), "-t", str(theirs.root))
    assert code == 2 and err.count("\n") == 1
    assert "directory of experiment 'mine:1'" in err
    assert not list((theirs.root / "runs").iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["list", "-s", "{tmp}/missing"], "no store at {tmp}/missing"),
        (["list", "-s", "file://relative"], "file locator takes an absolute path"),
        (["list", "-s", " "], "empty store locator"),
        (["list", "-s", "s3://u:hunter2@bucket/x"], "--store s3://u:***@bucket/x: Unknown"),
        (["list", "-s", "postgresql://u:hunter2@h/db"], "requires file_root"),
        (["export", "-f", "{tmp}/missing", "-t", "{tmp}/b"], "no store at {tmp}/missing"),
        (["import", "-f", "{tmp}", "-t", "mysql://h/db"], "--to mysql://h/db: Unknown store"),
    ],
)
def test_bad_locators_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    argv = [a.format(tmp=tmp_path) for a in args]
    code, out, err = invoke("store", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message.format(tmp=tmp_path) in err, err
    assert "hunter2" not in err
    assert not (tmp_path / "missing").exists() and not (tmp_path / "b").exists()


def test_unreachable_postgres_is_one_line_without_password(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    locator = f"postgresql://u:hunter2@127.0.0.1:1/db?file_root={tmp_path / 'files'}"
    code, _, err = invoke("store", "import", "-f", str(tmp_path), "-t", locator)
    assert code == 1 and err.count("\n") == 1, err
    assert "cannot connect to postgresql://u:***@127.0.0.1:1/db" in err and "hunter2" not in err
    assert not (tmp_path / "files").exists()


def test_required_flags(tmp_path: Path) -> None:
    code, _, err = invoke("store", "export", "--to", str(tmp_path))
    assert code == 2 and "Missing option '--from'" in err
    code, out, _ = invoke("store", "export", "--help")
    flags = ("--from", "-f", "--to", "-t", "--experiment", "-e", "--include-artifacts")
    more = ("--include-derived / --no-include-derived", "--include-logs / --no-include-logs")
    assert code == 0 and all(flag in out for flag in (*flags, *more, "--overwrite"))


def test_export_store_with_locators_is_per_experiment(collection: Path, tmp_path: Path) -> None:
    counts = export_store(str(collection), str(tmp_path / "b"), experiment_id="other:2")
    assert counts["runs"] == 1
    assert FileStoreConfig(root=str(tmp_path / "b")).list_experiments() == ["other:2"]
