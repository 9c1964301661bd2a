"""A token holder cannot make `metalab server` hold more than `MAX_HELD_BYTES` of requests: a
real server on loopback TCP (every caller there holds the token, as another account would) and
`WatchBundle` calls that stay open, each request padded to 1.9 MiB with a field the schema does
not know (protobuf keeps it). Past the cap a call is refused with RESOURCE_EXHAUSTED instead of
being held; once calls end, new ones are admitted again."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from metalab.v1 import registry_pb2, registry_pb2_grpc, types_pb2
from metalab_server.held import MAX_HELD_BYTES
from tests.helpers import METALAB
from tests.support.ports import free_port

pytestmark = pytest.mark.timeout(120)

TOKEN = "held-bytes-test-token-0123456789"
PADDING = 1_900_000  # bytes of unknown field per request
WATCH = "/metalab.v1.Registry/WatchBundle"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def padded_key(root: Path) -> bytes:
    """A valid BundleKey followed by field 1000 (length-delimited) of ``PADDING`` bytes."""
    key = types_pb2.BundleKey(project="held", environment="e", file_root=str(root))
    return key.SerializeToString() + _varint(1000 << 3 | 2) + _varint(PADDING) + b"x" * PADDING


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    address = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB_TOKEN")}
    process = subprocess.Popen(
        [METALAB, "server", "--services", "registry", "--listen", address],
        env={**env, "METALAB_TOKEN": TOKEN, "METALAB_HOME": str(tmp_path / "home")},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    assert "metalab server:" in process.stderr.readline()
    yield address
    process.terminate()
    process.wait(10)


async def _opened(call: grpc.aio.UnaryStreamCall) -> str:
    """``PUT`` when the Watch was admitted (it first reports the bundle as it is), else the
    status that ended it."""
    try:
        event = await asyncio.wait_for(call.read(), timeout=60)
    except grpc.aio.AioRpcError as exc:
        return f"{exc.code().name} {exc.details()}"
    assert isinstance(event, registry_pb2.BundleEvent)
    return registry_pb2.BundleEvent.Kind.Name(event.kind)


async def _holds(address: str, root: Path) -> tuple[int, str, str]:
    """Open Watches until one is refused: (how many were held, the refusal, what a Watch
    opened after one held Watch was cancelled got)."""
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    request = padded_key(root)
    bundle = types_pb2.Bundle(
        project="held", environment="e", file_root=str(root), store_locator="x", nonce="n"
    )
    async with grpc.aio.insecure_channel(address) as channel:
        put = registry_pb2.PutBundleRequest(bundle=bundle)
        await registry_pb2_grpc.RegistryStub(channel).PutBundle(put, metadata=metadata, timeout=30)
        watch = channel.unary_stream(
            WATCH,
            request_serializer=None,
            response_deserializer=registry_pb2.BundleEvent.FromString,
        )
        held: list[grpc.aio.UnaryStreamCall] = []
        refusal = ""
        for _ in range(MAX_HELD_BYTES // PADDING + 5):
            call = watch(request, metadata=metadata)
            outcome = await _opened(call)
            if outcome != "PUT":
                refusal = outcome
                break
            held.append(call)
        held.pop().cancel()
        for _ in range(100):  # the server sees the cancellation soon after
            again = watch(request, metadata=metadata)
            after = await _opened(again)
            if after == "PUT":
                break
            await asyncio.sleep(0.1)
        for call in [*held, again]:
            call.cancel()
        return len(held) + 1, refusal, after


def test_a_token_holder_cannot_make_the_server_hold_more_than_the_cap(
    server: str, tmp_path: Path
) -> None:
    count, refusal, after = asyncio.run(_holds(server, tmp_path / "root"))
    assert count == MAX_HELD_BYTES // len(padded_key(tmp_path / "root"))  # all that fit
    assert refusal.startswith("RESOURCE_EXHAUSTED requests held for other accounts would pass")
    assert after == "PUT"  # a cancelled call gave its bytes back
