"""The Tunnels servicer behind a real grpc.aio server on a Unix socket, through the stub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from metalab.v1 import tunnel_pb2, tunnel_pb2_grpc, types_pb2
from metalab_tunnel import add_to_server
from metalab_tunnel.servicer import TunnelsServicer
from tests.integration.tunnel.helpers import HttpServer, http_get
from tests.support.sshd import KeyPair, SshServer

pytestmark = [pytest.mark.sshd, pytest.mark.asyncio]

Kind = tunnel_pb2.TunnelEvent


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, TunnelsServicer]]:
    address = f"unix:{tmp_path / 'tunnel.sock'}"
    srv = grpc.aio.server()
    servicer = TunnelsServicer()
    add_to_server(srv, servicer)
    srv.add_insecure_port(address)
    await srv.start()
    try:
        yield address, servicer
    finally:
        await servicer.close_all()
        await srv.stop(None)


@pytest.fixture
def ssh_home(sshd: SshServer, client_key: KeyPair) -> str:
    """~/.ssh/config with an alias, key and known_hosts: the spec only names 'gw'."""
    ssh = Path.home() / ".ssh"
    (ssh / "known_hosts").write_text(sshd.known_hosts_line)
    (ssh / "config").write_text(
        f"Host gw\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
        f"  IdentityFile {client_key.private}\n"
    )
    return "gw"


def open_request(
    gateway: str, http: HttpServer, detach: bool, data_path: str
) -> tunnel_pb2.TunnelSpec:
    return tunnel_pb2.TunnelSpec(
        project="proj",
        environment="slurm",
        ssh=tunnel_pb2.SshTarget(gateway=gateway, mode="gateway", data_path=data_path),
        forwards=[
            tunnel_pb2.Forward(
                service="atlas",
                local_port=0,
                target=types_pb2.TunnelTarget(
                    service="atlas", host="127.0.0.1", port=http.port, scheme="http"
                ),
            )
        ],
        detach=detach,
    )


async def test_detached_tunnel_outlives_its_client_and_closes_on_close(
    server: tuple[str, TunnelsServicer], ssh_home: str, http_server: HttpServer, data_path: str
) -> None:
    address, _ = server
    async with grpc.aio.insecure_channel(address) as channel:
        stub = tunnel_pb2_grpc.TunnelsStub(channel)
        events = [
            e
            async for e in stub.Open(
                open_request(ssh_home, http_server, True, data_path), timeout=20
            )
        ]
    assert [e.kind for e in events] == [Kind.ESTABLISHED]
    tunnel_id, port = events[0].tunnel_id, events[0].forwards[0].local_port
    assert port > 0
    assert await http_get(port) == http_server.body  # the first client is gone

    async with grpc.aio.insecure_channel(address) as channel:
        stub = tunnel_pb2_grpc.TunnelsStub(channel)
        listed = await stub.List(tunnel_pb2.ListTunnelsRequest(), timeout=5)
        assert [(t.tunnel_id, t.project, t.environment, t.state) for t in listed.tunnels] == [
            (tunnel_id, "proj", "slurm", "up")
        ]
        assert listed.tunnels[0].forwards[0].local_port == port
        closed = await stub.Close(tunnel_pb2.CloseTunnelRequest(tunnel_id=tunnel_id), timeout=5)
        assert closed.closed == 1
        assert not (await stub.List(tunnel_pb2.ListTunnelsRequest(), timeout=5)).tunnels
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Close(tunnel_pb2.CloseTunnelRequest(tunnel_id=tunnel_id), timeout=5)
        assert info.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(OSError):
        await http_get(port, timeout=2)


async def test_attached_tunnel_closes_when_the_stream_is_cancelled(
    server: tuple[str, TunnelsServicer], ssh_home: str, http_server: HttpServer, data_path: str
) -> None:
    address, _ = server
    async with grpc.aio.insecure_channel(address) as channel:
        stub = tunnel_pb2_grpc.TunnelsStub(channel)
        call = stub.Open(open_request(ssh_home, http_server, False, data_path), timeout=60)
        first = await call.read()
        assert first.kind == Kind.ESTABLISHED
        port = first.forwards[0].local_port
        assert await http_get(port) == http_server.body
        listed = await stub.List(tunnel_pb2.ListTunnelsRequest(), timeout=5)
        assert len(listed.tunnels) == 1
        call.cancel()
        for _ in range(100):
            if not (await stub.List(tunnel_pb2.ListTunnelsRequest(), timeout=5)).tunnels:
                break
            await asyncio.sleep(0.05)
        assert not (await stub.List(tunnel_pb2.ListTunnelsRequest(), timeout=5)).tunnels
    with pytest.raises(OSError):
        await http_get(port, timeout=2)


async def test_open_failure_is_one_failed_event(
    server: tuple[str, TunnelsServicer], http_server: HttpServer, sshd: SshServer, data_path: str
) -> None:
    address, _ = server
    async with grpc.aio.insecure_channel(address) as channel:
        stub = tunnel_pb2_grpc.TunnelsStub(channel)
        request = open_request(f"root@127.0.0.1:{sshd.port}", http_server, False, data_path)
        events = [e async for e in stub.Open(request, timeout=20)]
    assert [e.kind for e in events] == [Kind.FAILED]
    assert "host key" in events[0].message and "unknown" in events[0].message
