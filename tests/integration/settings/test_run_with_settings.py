"""`metalab.run()` with a real settings file: workspace, env, folders, end to end on real files."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from metalab._folders import FolderError, tree_digest
from metalab._sdk import legacy as metalab
from metalab.errors import ConfigError, StoreError
from tests.integration.settings import ops
from tests.integration.settings.ops import executions


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def write_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "conf" / "settings.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    monkeypatch.setenv("METALAB_SETTINGS", str(path))
    return path


def experiment(name: str, n: int = 2, **params: object) -> metalab.Experiment:
    rows = [{"i": i, **params} for i in range(n)]
    return metalab.Experiment(name, ops.probe, params=metalab.param_list(rows), seeds=[0])


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
    metalab.run(experiment(name), **kwargs)
    assert (tmp_path / where / name / "experiment.json").is_file()
    made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("**/experiment.json")}
    assert made == {f"{where}/{name}/experiment.json"}


def test_explicit_store_wins_over_the_workspace_path(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, SELECTION)
    metalab.run(experiment("sel-abc"), store=tmp_path / "mine")
    assert (tmp_path / "mine" / "sel-abc" / "experiment.json").is_file()
    assert not (tmp_path / "ws").exists()


def test_no_settings_file_keeps_todays_default(cwd):
    metalab.run(experiment("plain"))
    assert (cwd / "experiments" / "plain" / "experiment.json").is_file()


def test_bad_workspace_choices_are_clear_errors(tmp_path, monkeypatch, cwd):
    with pytest.raises(ConfigError, match="--workspace 'x' given but there is no settings file"):
        metalab.run(experiment("e"), workspace="x")
    path = write_settings(tmp_path, monkeypatch, SELECTION)
    with pytest.raises(ConfigError, match=r"unknown workspace 'nope' \(known: cluster, first"):
        metalab.run(experiment("e"), workspace="nope")
    with pytest.raises(ConfigError, match="workspace 'cluster' is remote"):
        metalab.run(experiment("e"), workspace="cluster")
    path.write_text("workspaces: [{id: a, path: /x, trigers: [b]}]\n")
    with pytest.raises(ConfigError) as info:
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


def seen_env(root: Path, name: str) -> list[dict[str, str | None]]:
    return [
        json.loads(p.read_text())
        for p in sorted((root / name / "runs").glob("*/artifacts/env.json"))
    ]


def test_env_is_merged_and_exported_to_in_process_runs(tmp_path, monkeypatch, cwd, caplog):
    caplog.set_level(logging.INFO, "metalab")
    write_settings(tmp_path, monkeypatch, ENV)
    monkeypatch.setenv("ML_GLOBAL", "from-the-shell")  # the settings win inside runs
    metalab.run(experiment("envs"), env={"ML_RUN": "r"})
    expected = {"ML_GLOBAL": "g", "ML_WS": "w", "ML_RUN": "r", "ML_API_TOKEN": "hush"}
    assert seen_env(tmp_path / "ws", "envs") == [expected, expected]
    assert os.environ["ML_GLOBAL"] == "from-the-shell" and "ML_WS" not in os.environ
    assert "env: ML_GLOBAL=g ML_WS=w ML_RUN=r ML_API_TOKEN=***" in caplog.text
    assert "hush" not in caplog.text
    assert f"workspace: main {tmp_path / 'ws'}" in caplog.text


def test_env_reaches_local_pool_workers(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, ENV)
    executor = metalab.executor_from_config("local", {"workers": 2})
    result = metalab.run(experiment("pool", n=4), executor=executor, env={"ML_RUN": "r"})
    result.wait(timeout=120)
    expected = {"ML_GLOBAL": "g", "ML_WS": "w", "ML_RUN": "r", "ML_API_TOKEN": "hush"}
    assert seen_env(tmp_path / "ws", "pool") == [expected] * 4


def test_bad_run_env_is_a_clear_error(cwd):
    with pytest.raises(ConfigError, match="env.1BAD: environment variable names"):
        metalab.run(experiment("e"), env={"1BAD": "x"})
    with pytest.raises(ConfigError, match="env.N: must be a string"):
        metalab.run(experiment("e"), env={"N": 3})  # type: ignore[dict-item]  # checked at runtime


def test_store_log_redacts_the_password(cwd, caplog):
    caplog.set_level(logging.INFO, "metalab")
    locator = "postgresql://me:sekret@127.0.0.1:1/db?file_root=files&connect_timeout=2"
    with pytest.raises(StoreError) as info:
        metalab.run(experiment("e"), store=locator)
    assert "store: PostgresStore postgresql://me:***@127.0.0.1:1/db" in caplog.text
    assert "sekret" not in caplog.text and "sekret" not in str(info.value)


FOLDERS = """
workspaces:
  - id: main
    path: ../ws
    folders:
      - {path: ../backup, mode: backup}
      - {path: ../fast, mode: move}
"""


def runs_of(root: Path, name: str) -> dict[str, Path]:
    return {p.name: p for p in sorted((root / name / "runs").iterdir())}


def status_of(run_dir: Path) -> str:
    status: str = json.loads((run_dir / "run.json").read_text())["status"]
    return status


def test_completed_runs_are_archived_before_run_returns(tmp_path, monkeypatch, cwd, caplog):
    caplog.set_level(logging.INFO, "metalab")
    write_settings(tmp_path, monkeypatch, FOLDERS)
    exp = metalab.Experiment(
        "arch",
        ops.probe,
        params=metalab.param_list([{"i": 0}, {"i": 1}, {"i": 2, "fail": True}]),
        seeds=[0],
    )
    result = metalab.run(exp)
    assert result.status_counts() == {"completed": 2, "failed": 1}
    workspace = runs_of(tmp_path / "ws", "arch")
    completed = {rid for rid, path in workspace.items() if status_of(path) == "completed"}
    for rid, path in workspace.items():
        backup, fast = (
            tmp_path / "backup" / "arch" / "runs" / rid,
            tmp_path / "fast" / "arch" / "runs" / rid,
        )
        if rid in completed:
            assert path.is_symlink() and path.resolve() == fast.resolve()
            assert tree_digest(backup) == tree_digest(fast) == tree_digest(path)
        else:
            assert path.is_dir() and not path.is_symlink()
            assert not backup.exists() and not fast.exists()
    assert not list(tmp_path.glob("**/.tmp.*"))
    assert "archived 2 run(s): 2 copied, 2 moved" in caplog.text
    assert len(result.table()) == 3  # records are read through the symlinks
    assert result.archiver is not None and result.archiver.report is not None
    assert len(result.archiver.report.results) == 4 and not result.archiver.report.failures
    assert result.wait() is result and "waiting for" not in caplog.text.split("archived 2")[1]


def test_missing_runs_are_restored_instead_of_rerun(tmp_path, monkeypatch, cwd, caplog):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    ledger = tmp_path / "ledger"
    exp = experiment("rest", n=3, ledger=str(ledger))
    metalab.run(exp)
    assert executions(ledger) == [0, 1, 2]
    moved = {rid: tree_digest(p) for rid, p in runs_of(tmp_path / "ws", "rest").items()}
    # the primary copies vanish; one run survives only in the move folder
    for path in runs_of(tmp_path / "ws", "rest").values():
        path.unlink()
    only_fast = sorted(moved)[0]
    shutil.rmtree(tmp_path / "backup" / "rest" / "runs" / only_fast)
    caplog.clear()
    caplog.set_level(logging.INFO, "metalab")
    result = metalab.run(exp)
    assert executions(ledger) == [0, 1, 2], "a restored run was executed again"
    assert "total=3 to_run=0 already_done=3 (3 restored from folders)" in caplog.text
    assert result.status_counts() == {"completed": 3}
    assert f"restored rest/runs/{only_fast} from move folder" in caplog.text
    assert (tmp_path / "backup" / "rest" / "runs" / only_fast).is_dir()  # backed up again
    for rid, path in runs_of(tmp_path / "ws", "rest").items():
        assert tree_digest(path) == moved[rid]


def test_dangling_move_symlink_without_copy_is_an_error(tmp_path, monkeypatch, cwd):
    write_settings(
        tmp_path, monkeypatch, FOLDERS.replace("      - {path: ../backup, mode: backup}\n", "")
    )
    ledger = tmp_path / "ledger"
    exp = experiment("dang", n=1, ledger=str(ledger))
    metalab.run(exp)
    (tmp_path / "fast").rename(tmp_path / "unmounted")
    with pytest.raises(FolderError, match="is the move folder mounted"):
        metalab.run(exp)
    assert executions(ledger) == [0]
    (tmp_path / "unmounted").rename(tmp_path / "fast")
    metalab.run(exp)
    assert executions(ledger) == [0]


def test_backup_false_opts_out_and_a_later_run_catches_up(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    ledger = tmp_path / "ledger"
    exp = experiment("opt", n=2, ledger=str(ledger))
    metalab.run(exp, backup=False)
    assert not (tmp_path / "backup").exists() and not (tmp_path / "fast").exists()
    assert all(p.is_dir() and not p.is_symlink() for p in runs_of(tmp_path / "ws", "opt").values())
    metalab.run(exp)  # nothing to run; the completed runs are archived now
    assert executions(ledger) == [0, 1]
    assert len(list((tmp_path / "backup" / "opt" / "runs").iterdir())) == 2
    assert all(p.is_symlink() for p in runs_of(tmp_path / "ws", "opt").values())


def test_per_run_opt_out(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    exp = experiment("mark", n=1)
    metalab.run(exp, backup=False)
    (run,) = runs_of(tmp_path / "ws", "mark").values()
    (run / ".metalab-no-archive").touch()  # by hand
    metalab.run(exp)
    assert run.is_dir() and not run.is_symlink() and not (tmp_path / "backup").exists()
    exp = metalab.Experiment(  # by the operation: capture.no_archive()
        "mark2",
        ops.probe,
        params=metalab.param_list([{"i": 0}, {"i": 1, "keep_here": True}]),
        seeds=[0],
    )
    metalab.run(exp)
    kept = [p for p in runs_of(tmp_path / "ws", "mark2").values() if not p.is_symlink()]
    assert len(kept) == 1 and (kept[0] / ".metalab-no-archive").exists()
    assert len(list((tmp_path / "backup" / "mark2" / "runs").iterdir())) == 1


def test_use_folders_are_looked_up_never_written(tmp_path, monkeypatch, cwd):
    ledger = tmp_path / "ledger"
    exp = experiment("shared", n=2, ledger=str(ledger))
    metalab.run(exp, store=tmp_path / "colleague")  # someone else's results
    assert executions(ledger) == [0, 1]
    before = tree_digest(tmp_path / "colleague")
    write_settings(
        tmp_path,
        monkeypatch,
        "workspaces:\n  - id: main\n    path: ../ws\n"
        "    folders: [{path: ../colleague, mode: use}]\n",
    )
    result = metalab.run(exp)
    assert executions(ledger) == [0, 1] and result.status_counts() == {"completed": 2}
    assert all(
        p.is_dir() and not p.is_symlink() for p in runs_of(tmp_path / "ws", "shared").values()
    )
    assert tree_digest(tmp_path / "colleague") == before


def test_rerun_never_writes_into_the_archive(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    ledger = tmp_path / "ledger"
    exp = experiment("again", n=1, ledger=str(ledger))
    metalab.run(exp)
    (run,) = runs_of(tmp_path / "ws", "again").values()
    archived = tmp_path / "fast" / "again" / "runs" / run.name
    backup = tmp_path / "backup" / "again" / "runs" / run.name
    first = tree_digest(archived)
    result = metalab.run(exp, resume=False)
    assert executions(ledger) == [0, 0]
    (record,) = result.runs()
    assert record.attempt == 2 and record.metrics["in_symlink"] is False
    assert run.is_symlink() and tree_digest(archived) == tree_digest(backup) != first


def test_local_pool_runs_are_archived_by_wait(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    executor = metalab.executor_from_config("local", {"workers": 2})
    result = metalab.run(experiment("pool", n=4), executor=executor)
    result.wait(timeout=120)
    assert len(list((tmp_path / "backup" / "pool" / "runs").iterdir())) == 4
    assert all(p.is_symlink() for p in runs_of(tmp_path / "ws", "pool").values())
    assert result.archiver is not None and result.archiver.report is not None
    assert not result.archiver.report.failures


def test_folders_are_not_used_for_a_store_elsewhere(tmp_path, monkeypatch, cwd):
    write_settings(tmp_path, monkeypatch, FOLDERS)
    metalab.run(experiment("away", n=1), store=tmp_path / "other")
    assert not (tmp_path / "backup").exists() and not (tmp_path / "fast").exists()


def test_drain_progress_on_a_terminal(tmp_path, monkeypatch):
    import pty
    import subprocess
    import sys

    settings = write_settings(tmp_path, monkeypatch, FOLDERS)
    code = (
        "from metalab._sdk import legacy as metalab\n"
        "from tests.integration.settings import ops\n"
        "rows = [{'i': i} for i in range(3)]\n"
        "metalab.run(metalab.Experiment('tty', ops.probe, params=metalab.param_list(rows),"
        " seeds=[0]))\n"
    )
    primary, secondary = pty.openpty()
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "METALAB_SETTINGS": str(settings), "PYTHONPATH": str(repo)}
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
    write_settings(tmp_path, monkeypatch, "workspaces:\n  - id: main\n    path: ../ws\n")
    old = metalab.run(experiment("sweep", n=3)).wait()
    new = metalab.run(experiment("sweep", n=2, lr=0.1)).wait()
    runs = tmp_path / "ws" / "sweep" / "runs"
    doc = json.loads((tmp_path / "ws" / "sweep" / "experiment.json").read_text())
    assert doc["run_ids"] == new.run_ids and doc["total_runs"] == 2

    from click.testing import CliRunner

    from metalab._cli.main import cli

    listed = CliRunner().invoke(cli, ["orphans", "--json"])
    assert listed.exit_code == 0, listed.output
    found = {e["run"] for e in json.loads(listed.output)["entries"] if e["kind"] == "orphan"}
    assert found == {f"sweep/{rid}" for rid in old.run_ids}
    cleaned = CliRunner().invoke(cli, ["orphans", "--clean"])
    assert cleaned.exit_code == 0 and "removed 3" in cleaned.output, cleaned.output
    assert sorted(p.name for p in runs.iterdir()) == sorted(new.run_ids)
