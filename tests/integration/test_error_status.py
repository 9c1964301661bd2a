"""One error<->status table: every metalab error crosses a real gRPC call as its own class."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from metalab._client.client import connect
from metalab._client.target import ServerTarget
from metalab.core import errors
from metalab.core.status import ERROR_STATUS, abort, error_of, mapped_errors, status_of
from metalab.v1 import types_pb2
from metalab_server.server import start_server

RAISED: list[errors.MetalabError] = [
    errors.UsageError("--env needs a name"),
    errors.SchedulerError(["sbatch", "job.sh"], 1, "sbatch: error: invalid partition"),
    *(kind("the detail") for kind, _ in ERROR_STATUS if kind is not errors.SchedulerError),
]


@pytest_asyncio.fixture
async def raising(tmp_path: Path) -> AsyncIterator[grpc.aio.Channel]:
    """A server whose method ``/t/Raise`` aborts with ``RAISED[int(request)]`` through the
    table, as every servicer does."""

    async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        exc = RAISED[int(request)]
        await abort(context, exc, str(exc))

    handler = grpc.method_handlers_generic_handler(
        "t", {"Raise": grpc.unary_unary_rpc_method_handler(handle)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"unix:{tmp_path}/t.sock")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"unix:{tmp_path}/t.sock") as channel:
            yield channel
    finally:
        await server.stop(0)


@pytest.mark.asyncio
@pytest.mark.parametrize("index", range(len(RAISED)), ids=[type(e).__name__ for e in RAISED])
async def test_each_error_arrives_as_the_class_it_was_raised_as(
    raising: grpc.aio.Channel, index: int
) -> None:
    sent = RAISED[index]
    call = raising.unary_unary("/t/Raise")
    with pytest.raises(errors.MetalabError) as got:
        with mapped_errors("Raise"):
            await call(str(index).encode(), timeout=10)
    assert type(got.value) is type(sent)
    if not isinstance(sent, errors.DeadlineExceeded):  # the client words that one itself
        assert str(sent) in str(got.value)


def test_a_scheduler_failure_is_not_read_as_an_unreachable_server() -> None:
    failed = errors.SchedulerError(["squeue"], 1, "slurm_load_jobs error")
    assert status_of(failed) != grpc.StatusCode.UNAVAILABLE
    unnamed = error_of(status_of(failed), "squeue exited with 1", None, "Up")
    assert not isinstance(unnamed, errors.ServerUnavailable)
    down = error_of(grpc.StatusCode.UNAVAILABLE, "connection refused", None, "Up")
    assert isinstance(down, errors.ServerUnavailable)


def test_every_status_a_servicer_sends_is_in_the_table() -> None:
    codes = {code for _, code in ERROR_STATUS}
    assert grpc.StatusCode.ABORTED in codes
    assert all(status_of(e) != grpc.StatusCode.UNKNOWN for e in RAISED)


@pytest.mark.asyncio
async def test_a_lost_compare_and_set_reaches_the_client_as_a_conflict(tmp_path: Path) -> None:
    running = await start_server(["registry"], f"unix:{tmp_path}/registry.sock")
    bundle = types_pb2.Bundle(
        project="p", environment="e", file_root=str(tmp_path), store_locator="x", nonce="n1"
    )
    try:
        async with connect(ServerTarget(running.address)) as client:
            await client.put_bundle(bundle)
            with pytest.raises(errors.BundleConflict):
                await client.put_bundle(bundle, expected_nonce="someone-else")
            key = types_pb2.BundleKey(project="p", environment="e", file_root=str(tmp_path))
            with pytest.raises(errors.BundleConflict):
                await client.delete_bundle(key, expected_nonce="someone-else")
            assert await client.delete_bundle(key, expected_nonce="n1")
            with pytest.raises(errors.BundleNotFound):
                await client.get_bundle(key)
    finally:
        await running.stop(0)
