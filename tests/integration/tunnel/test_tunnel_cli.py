"""`metalab tunnel` as a user runs it: foreground, --detach, list, close, and services status."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import METALAB, run_cli
from tests.integration.tunnel.conftest import HttpServer
from tests.integration.tunnel.helpers import http_get
from tests.integration.tunnel.sshd_fixture import KeyPair, Sshd

pytestmark = pytest.mark.sshd

ESTABLISHED = re.compile(r"Tunnel established: http://127\.0\.0\.1:(\d+)")


@pytest.fixture
def project(tmp_path: Path, sshd: Sshd, client_key: KeyPair, http_server: HttpServer) -> Path:
    """A project whose `cluster` bundle points Atlas at a real HTTP server behind the gateway."""
    ssh = Path.home() / ".ssh"
    (ssh / "known_hosts").write_text(sshd.known_hosts_line)
    (ssh / "config").write_text(
        f"Host gw\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
        f"  IdentityFile {client_key.private}\n"
    )
    root = tmp_path / "project"
    file_root = tmp_path / "shared"
    root.mkdir()
    (root / ".metalab.toml").write_text(
        '[project]\nname = "proj"\n\n[services.atlas]\n\n'
        '[environments.cluster]\ntype = "slurm"\ngateway = "gw"\ntunnel = "gateway"\n'
        f'partition = "debug"\nfile_root = "{file_root}"\n'
    )
    services = file_root / "services"
    services.mkdir(parents=True)
    target = {"service": "atlas", "host": "127.0.0.1", "port": http_server.port, "scheme": "http"}
    bundle = {
        "schema_version": 1,
        "project": "proj",
        "environment": "cluster",
        "file_root": str(file_root),
        "store_locator": str(file_root),
        "state": "ready",
        "services": {"atlas": {"host": "127.0.0.1", "port": http_server.port}},
        "tunnel_targets": [target],
    }
    (services / "bundle.json").write_text(json.dumps(bundle))
    return root


@pytest.fixture
def daemon_reaper() -> Iterator[None]:
    """Kill the per-user tunnel daemon that --detach starts (its socket is under this HOME)."""
    yield
    marker = str(Path.home() / ".metalab" / "run" / "tunnel.sock")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            os.kill(int(entry.name), signal.SIGTERM)


def test_foreground_tunnel_forwards_until_ctrl_c(project: Path, http_server: HttpServer) -> None:
    process = subprocess.Popen(
        [METALAB, "tunnel", "--env", "cluster", "--port", "0"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = ESTABLISHED.search(line)
        assert match, line + (process.stderr.read() if process.stderr else "")

        assert asyncio.run(http_get(int(match.group(1)))) == http_server.body
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Tunnel closed." in err


@pytest.mark.usefixtures("daemon_reaper")
def test_detached_tunnel_is_listed_shown_in_status_and_closed(
    project: Path, http_server: HttpServer
) -> None:
    opened = run_cli("tunnel", "--env", "cluster", "--port", "0", "--detach", cwd=project)
    assert opened.returncode == 0, opened.stderr
    match = ESTABLISHED.search(opened.stdout)
    assert match and "Detached as" in opened.stdout, opened.stdout
    port = int(match.group(1))

    assert asyncio.run(http_get(port)) == http_server.body  # the CLI that opened it is gone

    listed = json.loads(run_cli("tunnel", "list", "--json", cwd=project).stdout)
    assert [(t["project"], t["environment"]) for t in listed] == [("proj", "cluster")]
    assert listed[0]["forwards"] == [{"service": "atlas", "local_port": port}]

    status = run_cli("services", "status", "--env", "cluster", "--json", cwd=project)
    assert [t["id"] for t in json.loads(status.stdout)["tunnels"]] == [listed[0]["id"]]
    text = run_cli("services", "status", "--env", "cluster", cwd=project)
    assert f"atlas → 127.0.0.1:{port}" in text.stdout, text.stdout + text.stderr

    closed = run_cli("tunnel", "close", "--all", cwd=project)
    assert closed.stdout.strip() == "Closed 1 tunnel."
    assert json.loads(run_cli("tunnel", "list", "--json", cwd=project).stdout) == []


def test_close_without_an_id_is_a_usage_error(project: Path) -> None:
    result = run_cli("tunnel", "close", cwd=project)
    assert result.returncode == 2
    assert "give a TUNNEL_ID or --all" in result.stderr
