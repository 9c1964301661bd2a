"""`metalab --workspace cluster ...` and `metalab monitor` really run over SSH (loopback sshd)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.components import require
from tests.support.sshd import SshServer, sshd_missing

METALAB = str(Path(sys.executable).parent / "metalab")

pytestmark = pytest.mark.sshd


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require(sshd_missing())
    with SshServer(tmp_path_factory.mktemp("sshd")) as running:
        yield running


@pytest.fixture
def cluster(server, tmp_path, monkeypatch):
    """Local settings naming a remote workspace; the remote side gets its own settings."""
    remote_home = tmp_path / "remote"
    remote_home.mkdir()
    remote_settings = remote_home / "settings.yaml"
    remote_settings.write_text(f"workspaces: [{{id: far, path: {remote_home / 'ws'}}}]\n")
    shell_init = (
        f"export METALAB_SETTINGS={remote_settings} "
        f"XDG_CACHE_HOME={remote_home / 'cache'} METALAB_HOME={remote_home / 'ml'}; "
        f"cd {remote_home}"
    )
    options = [
        "-F",
        "/dev/null",
        "-i",
        str(server.client_key_path),
        "-p",
        str(server.port),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={server.known_hosts_path}",
    ]
    local = tmp_path / "settings.yaml"
    local.write_text(
        json.dumps(
            {
                "workspaces": [
                    {"id": "local", "path": str(tmp_path / "ws")},
                    {
                        "id": "cluster",
                        "path": str(remote_home / "ws"),
                        "ssh": {
                            "host": f"{server.user}@{server.host}",
                            "shell_init": shell_init,
                            "metalab_path": METALAB,
                            "options": options,
                        },
                    },
                ]
            }
        )
    )
    monkeypatch.setenv("METALAB_SETTINGS", str(local))
    return remote_home


def metalab(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [METALAB, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def test_command_runs_on_the_remote_host(cluster):
    done = metalab("--workspace", "cluster", "settings", "show", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["file"] == str(cluster / "settings.yaml")  # the remote side's settings
    assert [w["id"] for w in shown["workspaces"]] == ["far"]


def test_remote_exit_codes_and_errors_come_back(cluster):
    done = metalab("--workspace", "cluster", "runs", "recover", "exp/missing")
    assert done.returncode == 1
    assert "not in workspace far nor in any folder" in done.stderr


def test_flags_override_the_workspace(cluster, tmp_path):
    marker = tmp_path / "override ran"
    done = metalab(
        "--workspace",
        "cluster",
        "--remote-shell-init",
        f"touch '{marker}'; export METALAB_SETTINGS=/nonexistent",
        "settings",
        "show",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert marker.exists()
    assert json.loads(done.stdout)["exists"] is False
    # -o adds to the options: a bogus port from -o wins over nothing else, so ssh fails
    done = metalab("--workspace", "cluster", "-o", "ConnectTimeout=notanumber", "settings", "show")
    assert done.returncode == 255
    assert "ssh to" in done.stderr


def test_local_workspace_is_not_forwarded(cluster, tmp_path):
    done = metalab("--workspace", "local", "orphans", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["workspace"] == str(tmp_path / "ws")


def test_monitor_streams_remote_status(cluster, tmp_path):
    project = cluster / ".metalab.toml"
    project.write_text('[project]\nname = "remote-proj"\n')
    done = metalab("monitor", "--workspace", "cluster", "--interval", "0.1", "--count", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, lines  # the same state twice: printed once
    assert lines[0].split(" ", 1)[1].startswith("cluster: ")


def test_monitor_json_is_one_object_per_poll(cluster, tmp_path):
    (cluster / ".metalab.toml").write_text('[project]\nname = "remote-proj"\n')
    done = metalab(
        "monitor", "--workspace", "cluster", "--json", "--interval", "0.1", "--count", "2"
    )
    assert done.returncode == 0, done.stderr
    polls = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(polls) == 2 and {p["workspace"] for p in polls} == {"cluster"}
    assert polls[0]["changes"] and polls[1]["changes"] == []  # the same state twice
    assert polls[0]["status"] == polls[1]["status"]


def test_monitor_refuses_a_local_workspace(cluster):
    done = metalab("monitor", "--workspace", "local", "--count", "1")
    assert done.returncode == 2 and "is not remote" in done.stderr
