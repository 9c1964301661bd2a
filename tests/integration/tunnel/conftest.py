"""Tunnel test fixtures: sshd on loopback, a netns jump topology, HTTP, PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from metalab.core.ssh_options import DataPath
from tests.integration.tunnel.helpers import HttpServer, Jump, Postgres
from tests.support.components import require
from tests.support.netns import JumpTopology
from tests.support.ports import free_port
from tests.support.sshd import KeyPair, SshServer, keygen, sshd_missing

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "metalab"


def _require(ok: bool, reason: str) -> None:
    if not ok:
        require(reason)


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No agent, no real ~/.ssh: each test gets an empty HOME."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    for name in list(os.environ):
        if name.startswith("METALAB_"):
            monkeypatch.delenv(name)


@pytest.fixture(params=["asyncssh", "openssh"])
def data_path(request: pytest.FixtureRequest) -> DataPath:
    """Each tunnel test runs on both data paths."""
    return cast(DataPath, request.param)


@pytest.fixture(scope="session")
def ssh_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mlt-ssh-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def client_key(ssh_dir: Path) -> KeyPair:
    require(sshd_missing())
    return keygen(ssh_dir / "id_client")


@pytest.fixture
def sshd(tmp_path: Path, client_key: KeyPair) -> Iterator[SshServer]:
    """A gateway sshd on 127.0.0.1 with a free port; killed after the test."""
    server = SshServer(tmp_path / "sshd", authorized_keys=[client_key.public_line])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def known_hosts(tmp_path: Path, sshd: SshServer) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(sshd.known_hosts_line)
    return path


def _start_http(argv_prefix: list[str], root: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [*argv_prefix, sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process


@pytest.fixture(scope="session")
def http_root(ssh_dir: Path) -> Path:
    root = ssh_dir / "www"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello through the tunnel\n")
    return root


def _wait_port(port: int, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture(scope="session")
def http_server(http_root: Path) -> Iterator[HttpServer]:
    port = free_port()
    process = _start_http([], http_root, port)
    try:
        _wait_port(port)
        yield HttpServer("127.0.0.1", port, http_root, b"hello through the tunnel\n")
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    _require((PG_BIN / "initdb").is_file(), "PostgreSQL 15 binaries not installed")
    if os.geteuid() == 0:
        if subprocess.run(["id", PG_USER], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", PG_USER], check=True)
        run_as = ["runuser", "-u", PG_USER, "--"]
    else:
        run_as = []
    base = Path(tempfile.mkdtemp(prefix="mlt-pg-"))
    os.chmod(base, 0o755)
    if run_as:
        shutil.chown(base, PG_USER)
    data = base / "data"
    port = free_port()
    subprocess.run(
        [*run_as, str(PG_BIN / "initdb"), "--no-sync", "-A", "trust", "-U", PG_USER, "-D",
         str(data)], check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [*run_as, str(PG_BIN / "pg_ctl"), "-w", "-D", str(data), "-l", str(base / "log"),
         "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {base}", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield Postgres(port, PG_USER)
    finally:
        subprocess.run(
            [*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def jump(ssh_dir: Path, client_key: KeyPair, http_root: Path) -> Iterator[Jump]:
    """gateway sshd in one netns, node sshd + HTTP server in another only the gateway reaches."""
    _require(os.geteuid() == 0 and shutil.which("ip") is not None, "needs root and iproute2")
    topology = JumpTopology.create(str(os.getpid()))
    started: list[SshServer] = []
    http = None
    try:
        keys = [client_key.public_line]
        gateway = SshServer(ssh_dir / "gw", authorized_keys=keys, host=topology.gateway_addr,
                            netns=topology.gateway.name)  # fmt: skip
        node = SshServer(ssh_dir / "node", authorized_keys=keys, host=topology.node_addr,
                         netns=topology.node.name)  # fmt: skip
        for server in (gateway, node):
            server.start()
            started.append(server)
        http_port = 8080
        http = topology.node.popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(http_port)],
            cwd=http_root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        probe = "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])))"
        for _ in range(200):
            check = topology.node.popen([sys.executable, "-c", probe, str(http_port)],
                                        stderr=subprocess.DEVNULL)  # fmt: skip
            if check.wait() == 0:
                break
            time.sleep(0.05)
        yield Jump(topology, gateway, node, http_port)
    finally:
        if http is not None:
            http.kill()
            http.wait()
        for server in started:
            server.stop()
        topology.delete()
