"""A `WatchBundle` stream open longer than the relay's idle timeout survives it (the servers ping
its client), and a connection that carries nothing is closed: real sockets, a real server kit
(`start_owner_server` with a shared socket) and its relay, with the idle timeout and the ping
interval shortened instead of waiting 300 s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from metalab.v1 import registry_pb2, registry_pb2_grpc, types_pb2
from metalab_server.server import start_owner_server

IDLE = 2.0  # the relay's idle timeout here, seconds (pings come 10 times as often)
PINGS_MS = 200  # the servers' ping interval on open calls
NO_PINGS_MS = 2**31 - 1  # grpc's "never"

pytestmark = pytest.mark.timeout(60)


async def _watch_across_quiet(tmp: Path, keepalive_ms: int) -> str:
    """Open a Watch through the shared socket, stay quiet for 3 idle timeouts, then change the
    bundle; what the Watch gets: ``PUT`` or the status that ended it."""
    owner, shared = f"unix:{tmp}/own/server.sock", f"unix:{tmp}/shared.sock"
    running = await start_owner_server(
        ["registry"], owner, shared, idle_timeout=IDLE, keepalive_ms=keepalive_ms
    )
    key = types_pb2.BundleKey(project="watch", environment="e", file_root=str(tmp / "root"))
    bundle = types_pb2.Bundle(
        project="watch", environment="e", file_root=key.file_root, store_locator="x", nonce="n"
    )
    try:
        async with grpc.aio.insecure_channel(shared) as channel:
            await asyncio.wait_for(channel.channel_ready(), timeout=10)
            stream = registry_pb2_grpc.RegistryStub(channel).WatchBundle(key)
            await asyncio.sleep(3 * IDLE)
            async with grpc.aio.insecure_channel(owner) as direct:
                request = registry_pb2.PutBundleRequest(bundle=bundle)
                await registry_pb2_grpc.RegistryStub(direct).PutBundle(request, timeout=5)
            try:
                event = await asyncio.wait_for(stream.read(), timeout=10)
            except grpc.aio.AioRpcError as exc:
                return str(exc.code().name)
            assert isinstance(event, registry_pb2.BundleEvent)
            return registry_pb2.BundleEvent.Kind.Name(event.kind)
    finally:
        await running.stop(grace=0)


def test_a_watch_with_pings_outlives_the_idle_timeout(tmp_path: Path) -> None:
    assert asyncio.run(_watch_across_quiet(tmp_path, PINGS_MS)) == "PUT"


def test_without_pings_the_same_watch_is_cut(tmp_path: Path) -> None:
    """The control: the relay does close a quiet relayed connection, Watch or not."""
    assert asyncio.run(_watch_across_quiet(tmp_path, NO_PINGS_MS)) == "UNAVAILABLE"


def test_a_connection_that_carries_nothing_is_closed(tmp_path: Path) -> None:
    async def run() -> tuple[bytes, bool]:
        owner, shared = f"unix:{tmp_path}/own/server.sock", f"unix:{tmp_path}/shared.sock"
        running = await start_owner_server(
            ["registry"], owner, shared, idle_timeout=IDLE, keepalive_ms=PINGS_MS
        )
        try:
            reader, writer = await asyncio.open_unix_connection(shared.removeprefix("unix:"))
            try:
                greeting = await asyncio.wait_for(reader.read(), timeout=10 * IDLE)
                return greeting, reader.at_eof()
            finally:
                writer.close()
        finally:
            await running.stop(grace=0)

    greeting, closed = asyncio.run(run())
    assert greeting[3] == 0x4  # what the server said: its HTTP/2 SETTINGS frame, nothing more
    assert closed  # then end of file: the relay closed the connection
