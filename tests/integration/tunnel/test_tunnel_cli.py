"""`metalab tunnel` as a user runs it: foreground, --detach, list, close, and services status."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from tests.helpers import METALAB, run_cli
from tests.integration.tunnel.helpers import HttpServer, descendants, http_get, ssh_processes
from tests.support.sshd import KeyPair, SshServer

pytestmark = pytest.mark.sshd

TOKEN = "tok/en+with=odd chars"
ESTABLISHED = re.compile(r"Tunnel established: http://127\.0\.0\.1:(\d+)/\?token=(\S+)")


@pytest.fixture
def project(
    tmp_path: Path, sshd: SshServer, client_key: KeyPair, http_server: HttpServer, data_path: str
) -> Path:
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
        f'data_path = "{data_path}"\n'
        f'partition = "debug"\nfile_root = "{file_root}"\n'
    )
    services = file_root / "services"
    (services / "run").mkdir(parents=True)
    token_file = services / "run" / "atlas.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)  # as Atlas's token files are; the CLI ignores one others may read
    target = {"service": "atlas", "host": "127.0.0.1", "port": http_server.port, "scheme": "http"}
    bundle = {
        "schema_version": 1,
        "project": "proj",
        "environment": "cluster",
        "file_root": str(file_root),
        "store_locator": str(file_root),
        "state": "ready",
        "services": {
            "atlas": {"host": "127.0.0.1", "port": http_server.port, "secret_ref": str(token_file)}
        },
        "tunnel_targets": [target],
    }
    (services / "bundle.json").write_text(json.dumps(bundle))
    (services / "bundle.json").chmod(0o600)  # as metalab writes it (StrictModes)
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


def test_foreground_tunnel_forwards_until_ctrl_c(
    project: Path, http_server: HttpServer, data_path: str
) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mlt-", dir="/tmp"))  # where control sockets go
    process = subprocess.Popen(
        [METALAB, "tunnel", "--env", "cluster", "--port", "0"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = ESTABLISHED.search(line)
        assert match, line + (process.stderr.read() if process.stderr else "")

        port = int(match.group(1))
        assert asyncio.run(http_get(port)) == http_server.body
        children = descendants(process.pid)
        assert len(ssh_processes(children)) == (data_path == "openssh")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Tunnel closed." in err
    assert ssh_processes(children) == []  # the ssh master went with it
    assert list(tmp.glob("metalab-ssh-*")) == []  # and its control socket directory
    shutil.rmtree(tmp)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


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

    assert unquote(match.group(2)) == TOKEN  # the URL logs the browser in
    listed_text = run_cli("tunnel", "list", "--json", cwd=project).stdout
    assert quote(TOKEN, safe="") not in listed_text and TOKEN not in listed_text
    listed = json.loads(listed_text)
    assert [(t["project"], t["environment"]) for t in listed] == [("proj", "cluster")]
    assert listed[0]["forwards"] == [{"service": "atlas", "local_port": port}]

    status = run_cli("services", "status", "--env", "cluster", "--json", cwd=project)
    assert TOKEN not in status.stdout and quote(TOKEN, safe="") not in status.stdout
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
