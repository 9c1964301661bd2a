"""`metalab.run()` with a real settings file: workspace, env, folders, end to end on real files.

Upstream's API throughout: ``metalab.run(exp, ...).result()``; the stores write upstream's
layout (``{workspace}/{name}_{version}/runs/{id}.json``, ``artifacts/{id}/`` ...).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

import metalab
from metalab.errors import ConfigError
from metalab.workspace.folders import FolderError
from metalab.workspace.run_settings import SettingsRunHandle
from tests.integration.settings.helpers import (
    experiment,
    records,
    rows_experiment,
    run_digest,
    seen_env,
    status_of,
    write_settings,
)
from tests.integration.settings.ops import executions


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("METALAB_SETTINGS", str(tmp_path / "no-settings.yaml"))
    return work


def statuses(results: metalab.Results) -> Counter[str]:
    return Counter(run.status.value for run in results)


SELECTION = """
workspaces:
  - id: cluster
    path: /remote/experiments
    triggers: ["sel-*"]
    ssh: {host: cluster.example}
  - id: first
    path: ../ws/first
  - id: alpha
    path: ../ws/alpha
    triggers: ["sel-a*"]
  - id: beta
    path: ../ws/beta
    triggers: ["other", "sel-*"]
"""


@pytest.mark.parametrize(
    ("name", "kwargs", "where"),
    [
        ("sel-abc", {}, "ws/alpha"),  # the first local trigger match; the remote one is skipped
        ("sel-x", {}, "ws/beta"),
        ("other", {}, "ws/beta"),
        ("misc", {}, "ws/first"),  # no trigger: the first local workspace
        ("sel-abc", {"workspace": "beta"}, "ws/beta"),  # explicit wins over triggers
        ("sel-abc", {"workdir": "elsewhere"}, "cwd/elsewhere"),  # relative to the cwd
        ("sel-abc", {"workspace": "first", "workdir": "elsewhere"}, "ws/first"),
    ],
)
def test_workspace_selection_picks_the_store_root(tmp_path, monkeypatch, cwd, name, kwargs, where):
    write_settings(tmp_path, monkeypatch, SELECTION)
    metalab.run(experiment(name), **kwargs).result()
    assert (tmp_path / where / f"{name}_1" / "_meta.json").is_file()
    made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("**/_meta.json")}
    assert made == {f"{where}/{name}_1/_meta.json"}


def test_explicit_store_wins_over_the_workspace_path(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, SELECTION)
    metalab.run(experiment("sel-abc"), store=str(tmp_path / "mine")).result()
    assert (tmp_path / "mine" / "sel-abc_1" / "_meta.json").is_file()
    assert not (tmp_path / "ws").exists()


def test_no_settings_file_keeps_upstreams_default(cwd):
    results = metalab.run(experiment("plain")).result()
    assert len(results) == 2
    assert (cwd / "experiments" / "plain_1" / "_meta.json").is_file()


def test_bad_workspace_choices_are_clear_errors(tmp_path, monkeypatch, cwd):
    with pytest.raises(ConfigError, match="--workspace 'x' given but there is no settings file"):
        metalab.run(experiment("e"), workspace="x")
    path = write_settings(tmp_path, monkeypatch, SELECTION)
    with pytest.raises(ConfigError, match=r"unknown workspace 'nope' \(known: cluster, first"):
        metalab.run(experiment("e"), workspace="nope")
    with pytest.raises(ConfigError, match="workspace 'cluster' is remote"):
        metalab.run(experiment("e"), workspace="cluster")
    path.write_text("workspaces: [{id: a, path: /x, trigers: [b]}]\n")
    with pytest.raises(ValueError) as info:  # a ConfigError, caught as upstream users do
        metalab.run(experiment("e"))
    assert str(info.value) == (
        f"{path}: workspaces.0.trigers: unknown key (did you mean 'triggers'?)"
    )
    assert not (cwd / "experiments").exists()


ENV = """
env: {ML_GLOBAL: g, ML_WS: g, ML_RUN: g, ML_API_TOKEN: hush}
workspaces:
  - id: main
    path: ../ws
    env: {ML_WS: w, ML_RUN: w}
"""
EXPECTED_ENV = {"ML_GLOBAL": "g", "ML_WS": "w", "ML_RUN": "r", "ML_API_TOKEN": "hush"}


def test_env_is_merged_and_exported_to_in_process_runs(tmp_path, monkeypatch, cwd, caplog):
    caplog.set_level(logging.INFO, "metalab")
    write_settings(tmp_path, monkeypatch, ENV)
    monkeypatch.setenv("ML_GLOBAL", "from-the-shell")  # the settings win inside runs
    handle = metalab.run(experiment("envs"), env={"ML_RUN": "r"})
    handle.result()
    assert seen_env(tmp_path / "ws" / "envs_1") == [EXPECTED_ENV, EXPECTED_ENV]
    assert os.environ["ML_GLOBAL"] == "from-the-shell" and "ML_WS" not in os.environ
    assert "Env: ML_GLOBAL=g ML_WS=w ML_RUN=r ML_API_TOKEN=***" in caplog.text
    assert "hush" not in caplog.text
    assert f"Workspace: main {tmp_path / 'ws'}" in caplog.text
    assert f"Store: FileStore {tmp_path / 'ws'} (experiment: envs:1)" in caplog.text
    assert "Executor: sequential (default)" in caplog.text
    assert "Runs: 2 to execute" in caplog.text


def test_env_reaches_process_pool_workers(tmp_path, monkeypatch, cwd, caplog):
    caplog.set_level(logging.INFO, "metalab")
    write_settings(tmp_path, monkeypatch, ENV)
    executor = metalab.ProcessExecutor(max_workers=2)
    with executor:
        metalab.run(experiment("pool", n=4), executor=executor, env={"ML_RUN": "r"}).result(
            timeout=120
        )
    assert seen_env(tmp_path / "ws" / "pool_1") == [EXPECTED_ENV] * 4
    assert "Executor: ProcessExecutor (max_workers=2)" in caplog.text
    assert "ML_WS" not in os.environ


def test_no_settings_work_returns_upstreams_handle(cwd):
    handle = metalab.run(experiment("bare"))
    assert not isinstance(handle, SettingsRunHandle)
    handle.result()


def test_bad_run_env_is_a_clear_error(cwd):
    with pytest.raises(ConfigError, match="env.1BAD: environment variable names"):
        metalab.run(experiment("e"), env={"1BAD": "x"})
    with pytest.raises(ConfigError, match="env.N: must be a string"):
        metalab.run(experiment("e"), env={"N": 3})  # type: ignore[dict-item]  # checked at runtime


def test_store_log_redacts_the_password(cwd, caplog, monkeypatch):
    from metalab.store.postgres import PostgresStoreConfig

    def refuse(self: PostgresStoreConfig) -> None:
        raise ConnectionError("no server here")

    monkeypatch.setattr(PostgresStoreConfig, "connect", refuse)
    caplog.set_level(logging.INFO, "metalab")
    locator = "postgresql://me:sekret@127.0.0.1:1/db?file_root=files"
    with pytest.raises(ConnectionError) as info:
        metalab.run(experiment("e"), store=locator)
    assert "Store: PostgresStore postgresql://me:***@127.0.0.1:1/db" in caplog.text
    assert "sekret" not in caplog.text and "sekret" not in str(info.value)


FOLDERS = """
workspaces:
  - id: main
    path: ../ws
    folders:
      - {path: ../backup, mode: backup}
      - {path: ../fast, mode: move}
"""


def test_successful_runs_are_archived_before_result_returns(tmp_path, monkeypatch, cwd, caplog):
    caplog.set_level(logging.INFO, "metalab")
    write_settings(tmp_path, monkeypatch, FOLDERS)
    exp = rows_experiment("arch", [{"i": 0}, {"i": 1}, {"i": 2, "fail": True}])
    handle = metalab.run(exp)
    results = handle.result()
    assert statuses(results) == {"success": 2, "failed": 1}
    ws, backup, fast = (tmp_path / p / "arch_1" for p in ("ws", "backup", "fast"))
    for run_id, record in records(ws).items():
        if status_of(record) == "success":
            assert (
                record.is_symlink() and record.resolve() == (fast / "runs" / record.name).resolve()
            )
            assert (ws / "artifacts" / run_id).is_symlink()
            assert run_digest(ws, run_id) == run_digest(fast, run_id)
            assert run_digest(backup, run_id) == run_digest(fast, run_id)
        else:
            assert not record.is_symlink() and not (ws / "artifacts" / run_id).is_symlink()
            assert not (backup / "runs" / record.name).exists()
            assert not (fast / "runs" / record.name).exists()
    assert not list(tmp_path.glob("**/.tmp.*"))
    assert "archived 2 run(s): 2 copied, 2 moved" in caplog.text
    assert isinstance(handle, SettingsRunHandle) and handle.archive_report is not None
    assert len(handle.archive_report.results) == 4 and not handle.archive_report.failures
    # readers follow the symlinks: the results load from the store again
    again = metalab.load_results(str(tmp_path / "ws" / "arch_1"))
    assert statuses(again) == {"success": 2, "failed": 1}
    assert sorted(r.artifact("env")["ML_RUN"] is None for r in again.successful) == [True, True]


def test_missing_runs_are_restored_instead_of_rerun(tmp_path, monkeypatch, cwd, caplog):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    ledger = tmp_path / "ledger"
    exp = experiment("rest", n=3, ledger=str(ledger))
    metalab.run(exp).result()
    assert executions(ledger) == [0, 1, 2]
    ws = tmp_path / "ws" / "rest_1"
    moved = {run_id: run_digest(ws, run_id) for run_id in records(ws)}
    shutil.rmtree(ws)  # the primary copies vanish; one run survives only in the move folder
    only_fast = sorted(moved)[0]
    (tmp_path / "backup" / "rest_1" / "runs" / f"{only_fast}.json").unlink()
    caplog.clear()
    caplog.set_level(logging.INFO, "metalab")
    results = metalab.run(exp).result()
    assert executions(ledger) == [0, 1, 2], "a restored run was executed again"
    assert "3 already completed (resume, 3 of them restored from folders)" in caplog.text
    assert f"restored run {only_fast} from move folder" in caplog.text
    assert statuses(results) == {"success": 3}
    assert (tmp_path / "backup" / "rest_1" / "runs" / f"{only_fast}.json").is_file()
    for run_id in records(ws):
        assert run_digest(ws, run_id) == moved[run_id]


def test_dangling_move_symlink_without_copy_is_an_error(tmp_path, monkeypatch, cwd):
    write_settings(
        tmp_path, monkeypatch, FOLDERS.replace("      - {path: ../backup, mode: backup}\n", "")
    )
    ledger = tmp_path / "ledger"
    exp = experiment("dang", n=1, ledger=str(ledger))
    metalab.run(exp).result()
    (tmp_path / "fast").rename(tmp_path / "unmounted")
    with pytest.raises(FolderError, match="is the move folder mounted"):
        metalab.run(exp)
    assert executions(ledger) == [0]
    (tmp_path / "unmounted").rename(tmp_path / "fast")
    metalab.run(exp).result()
    assert executions(ledger) == [0]


def test_backup_false_opts_out_and_a_later_run_catches_up(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    ledger = tmp_path / "ledger"
    exp = experiment("opt", n=2, ledger=str(ledger))
    metalab.run(exp, backup=False).result()
    assert not (tmp_path / "backup").exists() and not (tmp_path / "fast").exists()
    ws = tmp_path / "ws" / "opt_1"
    assert not any(p.is_symlink() for p in records(ws).values())
    metalab.run(exp).result()  # nothing to run; the successful runs are archived now
    assert executions(ledger) == [0, 1]
    assert len(records(tmp_path / "backup" / "opt_1")) == 2
    assert all(p.is_symlink() for p in records(ws).values())


def test_per_run_opt_out(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    exp = experiment("mark", n=2)
    metalab.run(exp, backup=False).result()
    ws = tmp_path / "ws" / "mark_1"
    kept = sorted(records(ws))[0]
    (ws / "runs" / f"{kept}.no-archive").touch()
    metalab.run(exp).result()
    assert {run_id for run_id, p in records(ws).items() if not p.is_symlink()} == {kept}
    assert set(records(tmp_path / "backup" / "mark_1")) == set(records(ws)) - {kept}
    # by the operation: capture.no_archive()
    metalab.run(rows_experiment("mark2", [{"i": 0}, {"i": 1, "keep_here": True}])).result()
    ws = tmp_path / "ws" / "mark2_1"
    kept_here = [run_id for run_id, p in records(ws).items() if not p.is_symlink()]
    assert len(kept_here) == 1 and (ws / "runs" / f"{kept_here[0]}.no-archive").exists()
    assert len(records(tmp_path / "backup" / "mark2_1")) == 1


def test_use_folders_are_looked_up_never_written(tmp_path, monkeypatch, cwd):
    from metalab.workspace.folders import tree_digest

    ledger = tmp_path / "ledger"
    exp = experiment("shared", n=2, ledger=str(ledger))
    metalab.run(exp, store=str(tmp_path / "colleague")).result()  # someone else's results
    assert executions(ledger) == [0, 1]
    before = tree_digest(tmp_path / "colleague")
    write_settings(
        tmp_path,
        monkeypatch,
        "workspaces:\n  - id: main\n    path: ../ws\n"
        "    folders: [{path: ../colleague, mode: use}]\n",
    )
    results = metalab.run(exp).result()
    assert executions(ledger) == [0, 1] and statuses(results) == {"success": 2}
    assert not any(p.is_symlink() for p in records(tmp_path / "ws" / "shared_1").values())
    assert tree_digest(tmp_path / "colleague") == before


def test_rerun_never_writes_into_the_archive(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    ledger = tmp_path / "ledger"
    exp = experiment("again", n=1, ledger=str(ledger))
    metalab.run(exp).result()
    ws, fast = tmp_path / "ws" / "again_1", tmp_path / "fast" / "again_1"
    (run_id,) = records(ws)
    first = run_digest(fast, run_id)
    results = metalab.run(exp, resume=False).result()
    assert executions(ledger) == [0, 0] and statuses(results) == {"success": 1}
    second = run_digest(fast, run_id)
    assert second != first  # archived again after the rerun, not written through the link
    assert run_digest(tmp_path / "backup" / "again_1", run_id) == second
    assert records(ws)[run_id].is_symlink()


def test_process_pool_runs_are_archived_by_result(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    with metalab.ProcessExecutor(max_workers=2) as executor:
        handle = metalab.run(experiment("pool", n=4), executor=executor)
        handle.result(timeout=120)
    assert len(records(tmp_path / "backup" / "pool_1")) == 4
    assert all(p.is_symlink() for p in records(tmp_path / "ws" / "pool_1").values())
    assert isinstance(handle, SettingsRunHandle) and handle.archive_report is not None
    assert not handle.archive_report.failures


def test_folders_are_not_used_for_a_store_elsewhere(tmp_path, monkeypatch, cwd, caplog):
    caplog.set_level(logging.INFO, "metalab")
    write_settings(tmp_path, monkeypatch, FOLDERS)
    metalab.run(experiment("away", n=1), store=str(tmp_path / "other")).result()
    assert not (tmp_path / "backup").exists() and not (tmp_path / "fast").exists()
    assert "(folders not used: the store is elsewhere)" in caplog.text


def test_drain_progress_on_a_terminal(tmp_path, monkeypatch):
    import pty
    import subprocess
    import sys

    settings = write_settings(tmp_path, monkeypatch, FOLDERS)
    code = (
        "import metalab\n"
        "from tests.integration.settings.helpers import experiment\n"
        "metalab.run(experiment('tty', n=3)).result()\n"
    )
    primary, secondary = pty.openpty()
    repo = Path(__file__).resolve().parents[3]
    path = os.pathsep.join([str(repo / "clients" / "python" / "src"), str(repo)])
    env = {**os.environ, "METALAB_SETTINGS": str(settings), "PYTHONPATH": path}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, stderr=secondary, stdout=secondary
    )
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert proc.wait(timeout=60) == 0, output
    assert b"tty: archived 3/3\r\n" in output


def test_runs_of_an_older_sweep_are_orphans_and_clean_removes_only_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cwd: Path
) -> None:
    import time

    write_settings(tmp_path, monkeypatch, "workspaces:\n  - id: main\n    path: ../ws\n")
    old = metalab.run(experiment("sweep", n=3)).result()
    time.sleep(1.1)  # manifests are named by the second
    new = metalab.run(experiment("sweep", n=2, lr=0.1)).result()
    ws = tmp_path / "ws" / "sweep_1"

    from click.testing import CliRunner

    from metalab._cli.main import cli

    listed = CliRunner().invoke(cli, ["orphans", "--json"])
    assert listed.exit_code == 0, listed.output
    found = {e["run"] for e in json.loads(listed.output)["entries"] if e["kind"] == "orphan"}
    assert found == {f"sweep_1/{run.run_id}" for run in old}
    cleaned = CliRunner().invoke(cli, ["orphans", "--clean"])
    assert cleaned.exit_code == 0 and "removed 3" in cleaned.output, cleaned.output
    assert sorted(records(ws)) == sorted(run.run_id for run in new)
    assert sorted(p.name for p in (ws / "artifacts").iterdir()) == sorted(records(ws))
