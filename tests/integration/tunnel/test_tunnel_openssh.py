"""The OpenSSH data path's ssh processes (respawn, cleanup, fallback), and byte-level behaviour
checked on both data paths (half-close, a service that went away)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metalab.core.ssh_options import DataPath, ForwardSpec, SshTarget
from metalab_tunnel.forwarder import Tunnel
from metalab_tunnel.model import EventKind, TunnelSpec
from tests.integration.tunnel.helpers import (
    Events,
    HttpServer,
    descendants,
    http_get,
    ssh_processes,
)
from tests.support.sshd import KeyPair, SshServer

pytestmark = pytest.mark.sshd


def spec_for(
    sshd: SshServer, key: KeyPair, known_hosts: Path, port: int, data_path: DataPath = "openssh"
) -> TunnelSpec:
    target = SshTarget(
        gateway=f"root@127.0.0.1:{sshd.port}",
        mode="gateway",
        ssh_key=str(key.private),
        options=(f"UserKnownHostsFile={known_hosts}",),
        config_files=(),
        data_path=data_path,
    )
    return TunnelSpec(target, (ForwardSpec("svc", "127.0.0.1", port, 0, "http"),))


@pytest.mark.asyncio
async def test_killed_ssh_is_respawned_and_close_leaves_none(
    sshd: SshServer, client_key: KeyPair, known_hosts: Path, http_server: HttpServer
) -> None:
    events = Events()
    tunnel = Tunnel(spec_for(sshd, client_key, known_hosts, http_server.port), events)
    (bound,) = await tunnel.start()
    try:
        (master,) = ssh_processes(descendants(os.getpid()))
        os.kill(master, signal.SIGKILL)
        await events.wait_for(EventKind.RECONNECTING)
        await events.wait_for(EventKind.RESTORED)
        assert await http_get(bound.local_port) == http_server.body
        (respawned,) = ssh_processes(descendants(os.getpid()))
        assert respawned != master
    finally:
        await tunnel.close()
    assert ssh_processes(descendants(os.getpid())) == []
    with pytest.raises(OSError):
        await http_get(bound.local_port, timeout=2)


async def _half_close_server() -> tuple[asyncio.Server, int]:
    """Reads until the client's EOF, then answers with the byte count and closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        size = len(await reader.read())
        writer.write(str(size).encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


@pytest.mark.asyncio
async def test_client_half_close_reaches_the_service_and_the_answer_comes_back(
    sshd: SshServer, client_key: KeyPair, known_hosts: Path, data_path: DataPath
) -> None:
    server, port = await _half_close_server()
    tunnel = Tunnel(spec_for(sshd, client_key, known_hosts, port, data_path))
    (bound,) = await tunnel.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", bound.local_port)
        writer.write(b"x" * 3_000_000)
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 20) == b"3000000"
        writer.close()
    finally:
        await tunnel.close()
        server.close()


@pytest.mark.asyncio
async def test_without_ssh_installed_the_asyncssh_path_is_used(
    sshd: SshServer,
    client_key: KeyPair,
    known_hosts: Path,
    http_server: HttpServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    events = Events()
    tunnel = Tunnel(spec_for(sshd, client_key, known_hosts, http_server.port), events)
    (bound,) = await tunnel.start()
    try:
        assert tunnel.data_path == "asyncssh"
        assert "asyncssh data path (ssh is not installed)" in events.seen[0].message
        assert await http_get(bound.local_port) == http_server.body
    finally:
        await tunnel.close()


RUN_TUNNEL = """
import asyncio, json, sys
from metalab_tunnel import ForwardSpec, SshTarget, Tunnel, TunnelSpec
async def main():
    t = json.loads(sys.argv[1])
    target = SshTarget(gateway=t["gateway"], mode="gateway", ssh_key=t["key"],
                       options=(t["known"],), config_files=(), data_path="openssh")
    tunnel = Tunnel(TunnelSpec(target, (ForwardSpec("svc", "127.0.0.1", t["port"]),)))
    (bound,) = await tunnel.start()
    print(bound.local_port, flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def test_ssh_dies_with_a_killed_tunnel_process(
    sshd: SshServer, client_key: KeyPair, known_hosts: Path, http_server: HttpServer
) -> None:
    args = {"gateway": f"root@127.0.0.1:{sshd.port}", "key": str(client_key.private),
            "known": f"UserKnownHostsFile={known_hosts}", "port": http_server.port}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_TUNNEL, json.dumps(args)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        masters = ssh_processes(descendants(process.pid))
        assert len(masters) == 1
    finally:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 20
    while ssh_processes(masters) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ssh_processes(masters) == []
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.asyncio
async def test_a_service_gone_after_start_closes_the_local_connection(
    sshd: SshServer, client_key: KeyPair, known_hosts: Path, data_path: DataPath
) -> None:
    server, port = await _half_close_server()
    tunnel = Tunnel(spec_for(sshd, client_key, known_hosts, port, data_path))
    (bound,) = await tunnel.start()
    try:
        server.close()
        await server.wait_closed()
        reader, writer = await asyncio.open_connection("127.0.0.1", bound.local_port)
        assert await asyncio.wait_for(reader.read(), 20) == b""
        writer.close()
        assert tunnel.state == "up"
    finally:
        await tunnel.close()


@pytest.mark.asyncio
async def test_a_burst_of_concurrent_connections_all_get_through(
    sshd: SshServer, client_key: KeyPair, known_hosts: Path, data_path: DataPath
) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=512)
    port = int(server.sockets[0].getsockname()[1])
    tunnel = Tunnel(spec_for(sshd, client_key, known_hosts, port, data_path))
    (bound,) = await tunnel.start()

    async def one(n: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", bound.local_port)
        writer.write(str(n).encode() * 100)
        writer.write_eof()
        data = await reader.read()
        writer.close()
        return data

    try:
        got = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(200))), 60)
        assert got == [str(n).encode() * 100 for n in range(200)]
    finally:
        await tunnel.close()
        server.close()


@pytest.mark.asyncio
async def test_default_key_in_home_serves_both_paths(
    sshd: SshServer, client_key: KeyPair, known_hosts: Path, http_server: HttpServer
) -> None:
    """No `ssh_key`: asyncssh loads $HOME/.ssh/id_ed25519; ssh, which would look in the
    passwd entry's home instead (not this $HOME), is given the same file."""
    home = Path(os.environ["HOME"])
    assert home != Path(pwd.getpwuid(os.getuid()).pw_dir)
    shutil.copy(client_key.private, home / ".ssh" / "id_ed25519")
    spec = spec_for(sshd, client_key, known_hosts, http_server.port)
    spec = dataclasses.replace(spec, target=dataclasses.replace(spec.target, ssh_key=None))
    events = Events()
    tunnel = Tunnel(spec, events)
    (bound,) = await tunnel.start()
    try:
        assert len(ssh_processes(descendants(os.getpid()))) == 1
        assert await http_get(bound.local_port) == http_server.body
    finally:
        await tunnel.close()
