"""`metalab settings show`, `orphans`, `runs recover` through the real CLI edge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metalab._cli.main import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
        raise SystemExit(0)
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "conf" / "settings.yaml"
    path.parent.mkdir()
    path.write_text(
        "server: {host: 127.0.0.1, port: 7000, token: topsecret}\n"
        f"workspaces:\n  - id: main\n    path: {tmp_path / 'ws'}\n"
        "    folders: [{path: ../backup, mode: backup}]\n"
    )
    monkeypatch.setenv("METALAB_SETTINGS", str(path))
    return path


def test_show_redacts_the_token(capsys, settings_file, tmp_path):
    code, out, _ = run_cli(capsys, "settings", "show", "--json")
    document = json.loads(out)
    assert code == 0 and document["server"]["token"] == "***"
    assert document["workspaces"][0]["folders"][0]["path"] == str(tmp_path / "backup")
    code, out, _ = run_cli(capsys, "settings", "show")
    assert "topsecret" not in out and "***" in out
    code, out, _ = run_cli(capsys, "settings", "show", "--show-secrets", "--json")
    assert json.loads(out)["server"]["token"] == "topsecret"


def test_show_without_a_file(capsys):
    code, out, _ = run_cli(capsys, "settings", "show")
    assert code == 0 and "no settings file" in out


def test_bad_settings_exit_2_with_one_line(capsys, tmp_path, monkeypatch):
    path = tmp_path / "s.yaml"
    path.write_text("workspaces: [{id: a, path: /x}, {id: a, path: /y}]\n")
    monkeypatch.setenv("METALAB_SETTINGS", str(path))
    code, _, err = run_cli(capsys, "settings", "show")
    assert code == 2
    assert (
        err == f"metalab: error: {path}: workspaces.1.id: duplicate workspace id 'a' "
        "(also workspaces.0)\n"
    )


def test_unknown_workspace_exit_2(capsys, settings_file):
    code, _, err = run_cli(capsys, "--workspace", "nope", "orphans")
    assert code == 2 and "unknown workspace 'nope' (known: main)" in err


def test_recover_and_orphans(capsys, settings_file, tmp_path):
    run = tmp_path / "backup" / "exp" / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "run.json").write_text('{"status": "completed"}')
    code, out, _ = run_cli(capsys, "orphans", "--json")
    assert [e["kind"] for e in json.loads(out)["entries"]] == ["recoverable"]
    code, out, err = run_cli(capsys, "runs", "recover", "exp/r1")
    assert code == 0 and "recovered exp/r1 from backup folder" in out
    assert (tmp_path / "ws" / "exp" / "runs" / "r1" / "run.json").exists()
    code, _, err = run_cli(capsys, "runs", "recover", "exp/missing")
    assert code == 1 and "not in workspace main nor in any folder" in err
    code, _, err = run_cli(capsys, "runs", "recover", "no-slash")
    assert code == 2
    # the recovered run has no experiment.json referring to it: an orphan, cleaned
    code, out, _ = run_cli(capsys, "--workspace", "main", "orphans", "--clean")
    assert code == 0 and "orphan       exp/r1" in out and "removed 1" in out
    assert not (tmp_path / "ws" / "exp" / "runs" / "r1").exists() and run.exists()


def test_remote_flags_need_a_remote_workspace(capsys, settings_file):
    code, _, err = run_cli(capsys, "--workspace", "main", "--uv-offline", "orphans")
    assert code == 2 and "need a remote workspace" in err


def test_recover_and_orphans_in_upstream_layout(capsys, settings_file, tmp_path):
    backup = tmp_path / "backup" / "exp_1"
    (backup / "runs").mkdir(parents=True)
    (backup / "_meta.json").write_text('{"experiment_id": "exp:1"}')
    (backup / "runs" / "r1.json").write_text('{"status": "success"}')
    (backup / "artifacts" / "r1").mkdir(parents=True)
    (backup / "artifacts" / "r1" / "model.json").write_text("{}")
    code, out, _ = run_cli(capsys, "orphans", "--json")
    assert [(e["kind"], e["run"]) for e in json.loads(out)["entries"]] == [
        ("recoverable", "exp_1/r1")
    ]
    code, out, err = run_cli(capsys, "runs", "recover", "exp_1/r1")
    assert code == 0 and "recovered exp_1/r1 from backup folder" in out, err
    ws = tmp_path / "ws" / "exp_1"
    assert (ws / "runs" / "r1.json").is_file()
    assert (ws / "artifacts" / "r1" / "model.json").is_file()
    code, out, _ = run_cli(capsys, "runs", "recover", "exp_1/r1")
    assert code == 0 and "already in" in out
    # no manifest names r1: an orphan; cleaning removes its files, never the backup's
    code, out, _ = run_cli(capsys, "orphans", "--clean")
    assert code == 0 and "orphan       exp_1/r1" in out and "removed 1" in out
    assert not (ws / "runs" / "r1.json").exists() and not (ws / "artifacts" / "r1").exists()
    assert (backup / "artifacts" / "r1" / "model.json").is_file()
