"""`metalab store reindex` through the installed CLI, against a real PostgreSQL.

`store reindex` rebuilds the index of the project's earlier run layout (what Atlas reads), so
the runs are written in that layout through `metalab._runstore`.
"""

import importlib
import json
import subprocess
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import pytest

import metalab._runstore as runstore_package
from metalab._runstore import PostgresStoreConfig, parse_locator
from metalab._runstore.base import COMPLETED, MetricStep, RunRecord
from tests.helpers import METALAB, run_cli

pytestmark = pytest.mark.postgres


def populate(locator: str, name: str) -> None:
    """Four completed runs of experiment ``name``, three metric steps each."""
    store = parse_locator(locator).open()
    try:
        run_ids = [f"{name}-{i}" for i in range(4)]
        store.put_experiment({"experiment_id": name, "name": name}, 4, run_ids)
        for i, run_id in enumerate(run_ids):
            record = RunRecord(name, run_id, {"lr": 0.1 * (i % 2 + 1)}, i // 2, COMPLETED)
            record.metrics = {"loss": float(i)}
            store.write_run(record)
            store.write_steps(name, run_id, [MetricStep("acc", s, s / 3, "") for s in range(3)])
    finally:
        store.close()


def count(locator: str, sql: str) -> int:
    store = cast(PostgresStoreConfig, parse_locator(locator)).open()
    try:
        row = store.conn.execute(sql).fetchone()
        assert row is not None
        return cast(int, row[0])
    finally:
        store.close()


def test_reindex_cli_rebuilds_the_index(pg_locator, tmp_path):
    populate(pg_locator, "one")
    populate(pg_locator, "two")
    store = cast(PostgresStoreConfig, parse_locator(pg_locator)).open()
    try:
        store.conn.execute("DELETE FROM runs WHERE experiment_id = 'one'")
        store.conn.execute("UPDATE runs SET status = 'running' WHERE experiment_id = 'two'")
    finally:
        store.close()
    # an experiment whose files are gone: its rows go too
    files = tmp_path / "files"
    (files / "two" / "experiment.json").rename(tmp_path / "moved-away.json")
    done = run_cli("store", "reindex", pg_locator, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["runs"] == 4 and out["store"].startswith("PostgresStore postgresql://metalab@")
    assert count(pg_locator, "SELECT count(*) FROM runs WHERE status = 'completed'") == 4
    assert count(pg_locator, "SELECT count(*) FROM runs WHERE experiment_id = 'two'") == 0
    assert count(pg_locator, "SELECT count(*) FROM experiments") == 1
    assert count(pg_locator, "SELECT count(*) FROM metric_steps") == 12


def with_password(locator: str, password: str) -> str:
    parts = urlsplit(locator)
    query = "&".join(q for q in parts.query.split("&") if not q.startswith("passfile="))
    netloc = parts.netloc.replace("metalab@", f"metalab:{password}@")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def test_password_only_on_stdin(pg_locator, postgres_server, tmp_path):
    populate(pg_locator, "pw")
    secret = with_password(pg_locator, postgres_server.password)
    refused = run_cli("store", "reindex", secret, cwd=tmp_path)
    assert refused.returncode == 2 and "carries a password" in refused.stderr
    assert postgres_server.password not in refused.stderr + refused.stdout
    done = subprocess.run(
        [METALAB, "store", "reindex", "-"],
        input=secret + "\n",
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "reindexed 4 run(s) into PostgresStore postgresql://metalab:***@" in done.stdout
    assert postgres_server.password not in done.stdout + done.stderr


def test_reindex_errors_are_one_line(tmp_path):
    for argv, code, text in [
        (["store", "reindex", str(tmp_path)], 1, "reindex needs a PostgreSQL store"),
        (["store", "reindex", "mysql://h/db"], 1, "unsupported store scheme 'mysql'"),
        (["store", "reindex"], 1, "no service bundle found"),
        (["store", "reindex", "postgresql://h/db", "--env", "x"], 2, "--env selects a bundle"),
    ]:
        done = run_cli(*argv, cwd=tmp_path)
        assert done.returncode == code, (argv, done.stderr)
        assert done.stderr.count("\n") == 1 and text in done.stderr, done.stderr


def test_reindex_name_is_always_the_function():
    importlib.import_module("metalab._runstore._reindex")  # must not shadow the function

    assert callable(runstore_package.reindex)
    assert runstore_package.reindex.__module__ == "metalab._runstore"
