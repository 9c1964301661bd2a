"""The peer-credential relay's bounds, over real Unix sockets: the connection cap, the idle
timeout, backpressure and clean closing on both sides (`metalab_server/relay.py`)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from metalab_server.relay import CHUNK, PeerRelay, peer_uid


@asynccontextmanager
async def relayed(
    tmp: Path, handler: Callable[..., object], **limits: float
) -> AsyncIterator[tuple[PeerRelay, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]]:
    """A relay whose both targets are one ``handler`` server; yields the relay and the target
    side's streams (one pair per relayed connection)."""
    inner: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        inner.append((reader, writer))
        await handler(reader, writer)  # type: ignore[misc]

    server = await asyncio.start_unix_server(target, path=str(tmp / "inner.sock"))
    relay = PeerRelay(str(tmp / "public.sock"), str(tmp / "inner.sock"), str(tmp / "inner.sock"))
    for name, value in limits.items():
        setattr(relay, name, value)
    await relay.start()
    try:
        yield relay, inner
    finally:
        await relay.close()
        server.close()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(CHUNK):
        writer.write(data)
        await writer.drain()
    writer.close()


async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


def test_peer_uid_is_the_connecting_account(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "s"))
        listener.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(str(tmp_path / "s"))
            accepted, _ = listener.accept()
            with accepted:
                assert peer_uid(accepted) == os.geteuid()


def test_bytes_go_through_and_a_close_closes_the_other_side(tmp_path: Path) -> None:
    async def run() -> None:
        async with relayed(tmp_path, echo) as (relay, inner):
            reader, writer = await asyncio.open_unix_connection(relay.public)
            payload = os.urandom(1 << 20)
            writer.write(payload)
            await writer.drain()
            assert await reader.readexactly(len(payload)) == payload
            writer.close()
            await writer.wait_closed()
            # The target sees end-of-file and closes its side; nothing stays open.
            for _ in range(500):
                if inner[0][1].is_closing() and not relay._tasks:
                    break
                await asyncio.sleep(0.01)
            assert inner[0][1].is_closing() and not relay._tasks

    asyncio.run(run())


def test_connections_beyond_the_cap_are_closed_at_once(tmp_path: Path) -> None:
    async def run() -> None:
        async with relayed(tmp_path, hold, max_connections=2) as (relay, inner):
            kept = [await asyncio.open_unix_connection(relay.public) for _ in range(2)]
            for _ in range(500):
                if len(inner) == 2:
                    break
                await asyncio.sleep(0.01)
            reader, writer = await asyncio.open_unix_connection(relay.public)
            assert await asyncio.wait_for(reader.read(1), 10) == b""  # closed, not relayed
            assert len(inner) == 2
            writer.close()
            for _, kept_writer in kept:
                kept_writer.close()

    asyncio.run(run())


def test_an_idle_connection_is_closed_on_both_sides(tmp_path: Path) -> None:
    async def run() -> None:
        async with relayed(tmp_path, hold, idle_timeout=0.5) as (relay, inner):
            reader, writer = await asyncio.open_unix_connection(relay.public)
            writer.write(b"x")
            assert await asyncio.wait_for(reader.read(1), 30) == b""  # the relay hung up
            # ... on the target too: it reads what was sent, then end-of-file.
            assert await asyncio.wait_for(inner[0][0].read(), 30) == b"x"
            writer.close()

    asyncio.run(run())


def test_a_reader_that_stops_reading_holds_the_writer_back(tmp_path: Path) -> None:
    """Backpressure: a target that never reads makes the relay stop reading the client, so
    the client's writes stall instead of piling up in the relay (no unbounded buffer)."""

    async def run() -> None:
        async with relayed(tmp_path, hold) as (relay, _inner):
            _reader, writer = await asyncio.open_unix_connection(relay.public)
            sent = 0
            block = b"\0" * CHUNK
            while True:
                writer.write(block)
                try:
                    await asyncio.wait_for(writer.drain(), 1.0)
                except TimeoutError:
                    break
                sent += len(block)
                assert sent < 64 << 20, "the relay buffers without bound"
            writer.transport.abort()

    asyncio.run(run())
