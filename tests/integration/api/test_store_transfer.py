"""`metalab store export|import|list` through the installed CLI, between file stores and a
real PostgreSQL: a store written by this API there and back, upstream's fixture imported."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from metalab.capture import Capture
from metalab.result import Results
from metalab.schema import dump_artifact_descriptor, dump_run_record
from metalab.store import (
    FileStore,
    FileStoreConfig,
    PostgresStore,
    PostgresStoreConfig,
    parse_to_config,
)
from metalab.types import RunRecord
from metalab_atlas.pgsource import PostgresSource
from tests.helpers import run_cli
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "upstream_store"
EXPECTED: dict[str, Any] = json.loads((FIXTURE / "expected.json").read_text())
EXP = "sweep:1.0"
T0 = datetime(2026, 5, 1, 8, 0)


def write_sweep(root: Path) -> FileStore:
    """Three runs of ``EXP`` written through Capture: metrics, steps, logs, an artifact."""
    store = FileStoreConfig(root=str(root), experiment_id=EXP).connect()
    for i in range(3):
        run_id = f"{i:016x}"
        with Capture(store, run_id, artifact_dir=root / "scratch" / run_id) as capture:
            capture.log(f"run {i} says hello")
            capture.metric("loss", 1.0 / (i + 1))
            for step in range(3):
                capture.metric("acc", 0.1 * step, step=step)
            capture.artifact("summary", {"run": i})
        summary = capture.finalize()
        store.put_run_record(
            RunRecord.success(
                run_id=run_id,
                experiment_id=EXP,
                started_at=T0,
                finished_at=T0 + timedelta(seconds=i + 1),
                metrics=summary["metrics"],
                params_resolved={"lr": 0.1 * (i + 1)},
                artifacts=summary["artifacts"],
            )
        )
    store.put_derived(f"{0:016x}", {"best": 1.0})
    store.put_experiment_manifest(EXP, {"name": "sweep", "version": "1.0", "total_runs": 3})
    return store


def pg(dsn: str, file_root: Path) -> str:
    return f"{dsn}&file_root={file_root}"


def connect(locator: str, experiment_id: str) -> PostgresStore:
    config = parse_to_config(locator, experiment_id=experiment_id)
    assert isinstance(config, PostgresStoreConfig)
    return config.connect()


def cli_json(*args: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = run_cli(*args, "--json", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def everything(store: Any, run_ids: list[str]) -> dict[str, Any]:
    """What a store holds of ``run_ids`` beyond records (artifact contents, not URIs)."""
    found: dict[str, Any] = {}
    for run_id in run_ids:
        found[run_id] = {
            "derived": store.get_derived(run_id),
            "logs": {name: store.get_log(run_id, name) for name in store.list_logs(run_id)},
            "results": {
                name: store.get_result(run_id, name) for name in store.list_results(run_id)
            },
            "artifacts": {a.name: store.get_artifact(a.uri) for a in store.list_artifacts(run_id)},
        }
    return found


def records_of(store: Any, experiment_id: str) -> dict[str, Any]:
    """The dumped records of ``experiment_id`` in a store, or in a PostgresIndex."""
    lister = getattr(store, "list_run_records", None) or store.list_records
    return {r.run_id: dump_run_record(r) for r in lister(experiment_id)}


def test_file_to_postgres_and_back(pg_dsn: str, tmp_path: Path) -> None:
    original = write_sweep(tmp_path / "original")
    run_ids = sorted(r.run_id for r in original.list_run_records())
    locator = pg(pg_dsn, tmp_path / "pg-files")

    counts = cli_json(
        "store", "export", "-f", str(tmp_path / "original"), "-t", locator,
        "--include-artifacts", cwd=tmp_path,
    )  # fmt: skip
    assert (counts["runs"], counts["derived"], counts["logs"]) == (3, 1, 3)
    assert (counts["artifacts"], counts["results"], counts["manifests"]) == (3, 3, 1)
    with connect(locator, EXP) as store:
        assert store.index.list_records(EXP) and records_of(store.index, EXP) == records_of(
            original, EXP
        )
        assert store.index.get_derived(run_ids[0]) == {"best": 1.0}
        assert store.index.get_manifest(EXP) == original.get_experiment_manifest(EXP)
        assert everything(store, run_ids) == everything(original, run_ids)
    atlas = PostgresSource(locator)
    try:
        [card] = atlas.experiments()
        assert (card["experiment_id"], card["counts"]) == (EXP, {"success": 3})
    finally:
        atlas.close()
    assert cli_json("store", "list", "-s", locator, cwd=tmp_path) == {"experiments": [EXP]}

    again = cli_json(
        "store", "export", "-f", str(tmp_path / "original"), "-t", locator, cwd=tmp_path
    )
    assert (again["runs"], again["skipped"]) == (0, 3)

    back = tmp_path / "back"
    counts = cli_json(
        "store", "import", "--from", locator, "--to", str(back), "--include-artifacts",
        cwd=tmp_path,
    )  # fmt: skip
    assert (counts["runs"], counts["artifacts"], counts["manifests"]) == (3, 3, 1)
    copy = FileStoreConfig(root=str(back), experiment_id=EXP).connect()
    assert records_of(copy, EXP) == records_of(original, EXP)
    assert everything(copy, run_ids) == everything(original, run_ids)
    original_table = Results.from_store(original).table()
    assert Results.from_store(copy).table() == original_table


def test_upstream_fixture_into_postgres(pg_dsn: str, tmp_path: Path) -> None:
    collection = tmp_path / "collection"
    shutil.copytree(FIXTURE, collection / "fixture_1.0")
    locator = pg(pg_dsn, tmp_path / "pg-files")
    done = run_cli(
        "store", "import", "-f", f"file://{collection}", "-t", locator, "--include-artifacts",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Import complete:\n  runs: 4\n" in done.stdout and "Importing: 4/4" in done.stderr
    run = "a" * 16
    with connect(locator, "fixture:1.0") as store:
        assert records_of(store.index, "fixture:1.0") == EXPECTED["runs"]
        assert store.index.get_derived(run) == EXPECTED["derived"][run]
        assert store.index.get_manifest("fixture:1.0") == EXPECTED["manifest"]
        assert {n: store.get_log(run, n) for n in store.list_logs(run)} == EXPECTED["logs"][run]
        assert {n: store.get_result(run, n) for n in store.list_results(run)} == (
            EXPECTED["results"][run]
        )
        [artifact] = [dump_artifact_descriptor(a) for a in store.list_artifacts(run)]
        assert artifact["uri"] == str(
            tmp_path / "pg-files" / "fixture_1.0" / "artifacts" / run / "table.json"
        )
        assert {**artifact, "uri": ""} == {**EXPECTED["artifacts"][run][0], "uri": ""}


def test_postgres_collection_out_by_experiment(pg_dsn: str, tmp_path: Path) -> None:
    """Out of a PostgreSQL store holding two experiments: each into its own directory, and
    from one experiment's directory (as file_root) only that experiment's runs."""
    collection = tmp_path / "collection"
    shutil.copytree(FIXTURE, collection / "fixture_1.0")
    write_sweep(collection)
    locator = pg(pg_dsn, tmp_path / "pg-files")
    assert (
        cli_json("store", "import", "-f", str(collection), "-t", locator, cwd=tmp_path)["runs"] == 7
    )
    out = tmp_path / "out"
    assert cli_json("store", "export", "-f", locator, "-t", str(out), cwd=tmp_path)["runs"] == 7
    for experiment_id, count in (("fixture:1.0", 4), (EXP, 3)):
        copy = FileStoreConfig(root=str(out), experiment_id=experiment_id).connect()
        assert len(records_of(copy, experiment_id)) == count
        assert len(copy.list_run_records()) == count
    one = pg(pg_dsn, tmp_path / "pg-files" / "sweep_1.0")
    counts = cli_json("store", "export", "-f", one, "-t", str(tmp_path / "one"), cwd=tmp_path)
    assert counts["runs"] == 3
    assert FileStoreConfig(root=str(tmp_path / "one")).list_experiments() == [EXP]


def test_import_over_its_own_files_indexes_them(pg_dsn: str, tmp_path: Path) -> None:
    write_sweep(tmp_path / "files")
    locator = pg(pg_dsn, tmp_path / "files")
    counts = cli_json("store", "import", "-f", str(tmp_path / "files"), "-t", locator, cwd=tmp_path)
    assert (counts["runs"], counts["skipped"]) == (3, 0)
    with connect(locator, EXP) as store:
        assert len(store.index.list_records(EXP)) == 3


def test_discover_and_a_password_never_shown(
    postgres_server: PostgresServer, pg_dsn: str, tmp_path: Path
) -> None:
    from metalab.core.bundle.files import write_bundle

    collection = tmp_path / "collection"
    shutil.copytree(FIXTURE, collection / "fixture_1.0")
    project = tmp_path / "project"
    (project / "deep").mkdir(parents=True)
    write_bundle(
        project / "services" / "bundle.json",
        {"project": "project", "environment": "local", "store_locator": pg(pg_dsn, tmp_path / "f")},
    )
    env = {"METALAB_HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    cwd = project / "deep"
    counts = cli_json("store", "import", "-f", str(collection), "-t", "discover", cwd=cwd, env=env)
    assert counts["runs"] == 4
    listed = cli_json("store", "list", "-s", "discover", cwd=cwd, env=env)
    assert listed == {"experiments": ["fixture:1.0"]}

    parts = urlsplit(pg_dsn)
    secret = f"postgresql://metalab:{postgres_server.password}@{parts.netloc.split('@')[1]}"
    with_password = f"{secret}{parts.path}?file_root={tmp_path / 'f'}"
    done = run_cli(
        "-v", "store", "export", "-f", with_password, "-t", str(tmp_path / "out"), cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    assert "Export complete:\n  runs: 4\n" in done.stdout
    assert postgres_server.password not in done.stdout + done.stderr
    wrong = with_password.replace(postgres_server.password, "not-the-password")
    refused = run_cli("store", "export", "-f", wrong, "-t", str(tmp_path / "out2"), cwd=cwd)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "cannot connect to postgresql://metalab:***@" in refused.stderr
    assert "not-the-password" not in refused.stderr
