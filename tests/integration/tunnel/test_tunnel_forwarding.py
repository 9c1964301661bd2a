"""Tunnels through a real sshd: gateway mode, jump through network namespaces, PostgreSQL."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import psycopg
import pytest

from metalab.core.ssh_options import DataPath, ForwardSpec, SshTarget
from metalab.errors import TunnelError
from metalab_tunnel.forwarder import Tunnel, bound_lines
from metalab_tunnel.model import EventKind, TunnelSpec
from tests.integration.tunnel.helpers import Events, HttpServer, Jump, Postgres, http_get
from tests.support.sshd import KeyPair, SshServer

pytestmark = [pytest.mark.sshd, pytest.mark.asyncio]


def gateway_target(
    sshd: SshServer, key: KeyPair, known_hosts: Path, data_path: DataPath, **kw: object
) -> SshTarget:
    return SshTarget(
        gateway=f"root@127.0.0.1:{sshd.port}",
        ssh_key=str(key.private),
        options=(f"UserKnownHostsFile={known_hosts}",),
        config_files=(),
        data_path=data_path,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.postgres
async def test_gateway_mode_forwards_http_and_postgres(
    sshd: SshServer,
    client_key: KeyPair,
    known_hosts: Path,
    http_server: HttpServer,
    postgres: Postgres,
    data_path: DataPath,
) -> None:
    target = gateway_target(sshd, client_key, known_hosts, data_path, mode="gateway")
    spec = TunnelSpec(
        target,
        (
            ForwardSpec("postgres", "127.0.0.1", postgres.port, 0, "postgresql"),
            ForwardSpec("atlas", "127.0.0.1", http_server.port, 0, "http"),
        ),
    )
    events = Events()
    tunnel = Tunnel(spec, events)
    bound = await tunnel.start()
    try:
        assert events.kinds() == [EventKind.ESTABLISHED]
        assert events.seen[0].message == f"gateway mode, {data_path} data path"
        lines = bound_lines(bound)
        assert lines[0].startswith("Tunnel established: http://127.0.0.1:")
        assert lines[1].startswith("Tunnel established: postgresql://127.0.0.1:")
        ports = {b.spec.service: b.local_port for b in bound}
        assert all(ports.values())
        bodies = await asyncio.gather(*(http_get(ports["atlas"]) for _ in range(20)))
        assert set(bodies) == {http_server.body}
        conninfo = f"host=127.0.0.1 port={ports['postgres']} user={postgres.user} dbname=postgres"
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            cur = await conn.execute("select 40 + 2, repeat('x', 1000000)")
            row = await cur.fetchone()
        assert row is not None and row[0] == 42 and len(row[1]) == 1_000_000
    finally:
        await tunnel.close()
    assert events.kinds()[-1] is EventKind.CLOSED
    with pytest.raises(OSError):
        await http_get(ports["atlas"], timeout=2)


async def test_jump_reaches_node_only_the_gateway_can_reach(
    jump: Jump, client_key: KeyPair, tmp_path: Path, data_path: DataPath
) -> None:
    # The node is not reachable from here at all.
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(1)
        sock.connect((jump.topology.node_addr, jump.node.port))
    # ~/.ssh/config-style aliases for both hops, host keys in known_hosts.
    config = tmp_path / "ssh_config"
    known = tmp_path / "known_hosts"
    known.write_text(jump.gateway.known_hosts_line + jump.node.known_hosts_line)
    config.write_text(
        f"Host gw\n  HostName {jump.topology.gateway_addr}\n  Port {jump.gateway.port}\n"
        f"  User root\n  IdentityFile {client_key.private}\n  UserKnownHostsFile {known}\n"
        f"Host node1\n  HostName {jump.topology.node_addr}\n  Port {jump.node.port}\n"
        f"  User root\n  IdentityFile {client_key.private}\n  UserKnownHostsFile {known}\n"
    )
    target = SshTarget(
        gateway="gw",
        mode="jump",
        config_files=(str(config),),
        data_path=data_path,
    )
    spec = TunnelSpec(target, (ForwardSpec("atlas", "node1", jump.http_port, 0, "http"),))
    events = Events()
    tunnel = Tunnel(spec, events)
    (bound,) = await tunnel.start()
    try:
        assert tunnel.mode == "jump"
        assert await http_get(bound.local_port) == b"hello through the tunnel\n"
    finally:
        await tunnel.close()


async def test_jump_with_ssh_key_and_addresses_only(
    jump: Jump, client_key: KeyPair, tmp_path: Path, data_path: DataPath
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(jump.gateway.known_hosts_line + jump.node.known_hosts_line)
    target = SshTarget(
        gateway=f"{jump.topology.gateway_addr}:{jump.gateway.port}",
        user="root",
        ssh_key=str(client_key.private),
        mode="jump",
        options=(f"UserKnownHostsFile={known}",),
        config_files=(),
        data_path=data_path,
    )
    node = f"{jump.topology.node_addr}:{jump.node.port}"
    spec = TunnelSpec(target, (ForwardSpec("atlas", node, jump.http_port, 0, "http"),))
    tunnel = Tunnel(spec)
    (bound,) = await tunnel.start()
    try:
        assert tunnel.mode == "jump" and tunnel.data_path == data_path
        assert await http_get(bound.local_port) == b"hello through the tunnel\n"
    finally:
        await tunnel.close()


async def test_neither_mode_works_names_both_failures(
    sshd: SshServer, client_key: KeyPair, known_hosts: Path, data_path: DataPath
) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    try:
        port = dead.getsockname()[1]
        target = gateway_target(sshd, client_key, known_hosts, data_path, mode="jump")
        spec = TunnelSpec(target, (ForwardSpec("atlas", f"127.0.0.1:{port}", port),))
        with pytest.raises(TunnelError) as info:
            await Tunnel(spec).start()
    finally:
        dead.close()
    message = str(info.value)
    assert "jump mode failed" in message and "gateway mode failed too" in message
    assert "\n" not in message


async def test_busy_local_port_is_a_clear_error(
    sshd: SshServer,
    client_key: KeyPair,
    known_hosts: Path,
    http_server: HttpServer,
    data_path: DataPath,
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        target = gateway_target(sshd, client_key, known_hosts, data_path, mode="gateway")
        spec = TunnelSpec(target, (ForwardSpec("atlas", "127.0.0.1", http_server.port, port),))
        events = Events()
        with pytest.raises(TunnelError, match=f"local port {port} for atlas is busy"):
            await Tunnel(spec, events).start()
        assert events.kinds() == [EventKind.FAILED]


async def test_run_foreground_holds_until_cancelled(
    sshd: SshServer,
    client_key: KeyPair,
    known_hosts: Path,
    http_server: HttpServer,
    data_path: DataPath,
) -> None:
    from metalab_tunnel.foreground import run_foreground

    target = gateway_target(sshd, client_key, known_hosts, data_path, mode="gateway")
    spec = TunnelSpec(target, (ForwardSpec("atlas", "127.0.0.1", http_server.port, 0, "http"),))
    events = Events()
    task = asyncio.create_task(run_foreground(spec, events))
    established = await events.wait_for(EventKind.ESTABLISHED)
    port = established.forwards[0].local_port
    assert await http_get(port) == http_server.body
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events.kinds()[-1] is EventKind.CLOSED
    with pytest.raises(OSError):
        await http_get(port, timeout=2)
