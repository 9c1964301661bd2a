"""The gRPC servers bound what an unauthenticated caller can make them hold, and long error
details reach the client summarised, root cause kept (not "Stream removed").

A real server (`start_server`) on loopback TCP with a token, called by a real channel.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from metalab.v1 import registry_pb2, registry_pb2_grpc, types_pb2
from metalab_server.details import MAX_DETAIL, SummarizeErrors, summarize
from metalab_server.server import MAX_MESSAGE, start_server

ROOT_CAUSE = "OSError: [Errno 28] No space left on device"
LONG = "provisioning failed\n" + "x" * 40_000 + "\n" + ROOT_CAUSE


def _put(project: str, log_path: str) -> registry_pb2.PutBundleRequest:
    bundle = types_pb2.Bundle(project=project, environment="e", file_root="/nonexistent")
    bundle.services["atlas"].CopyFrom(types_pb2.ServiceHandle(log_path=log_path))
    return registry_pb2.PutBundleRequest(bundle=bundle)


@pytest.mark.asyncio
async def test_unauthenticated_messages_are_bounded() -> None:
    running = await start_server(["registry"], "127.0.0.1:0", token="s3cret")
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = registry_pb2_grpc.RegistryStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as too_big:
                await stub.PutBundle(_put("p", "x" * (MAX_MESSAGE + 1024)), timeout=10)
            assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            for _ in range(20):  # the 15 MiB messages of the report: each refused, none held
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.PutBundle(_put("p", "y" * (15 << 20)), timeout=10)
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            with pytest.raises(grpc.aio.AioRpcError) as no_token:
                await stub.PutBundle(_put("p", "z" * (MAX_MESSAGE // 2)), timeout=10)
            assert no_token.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await running.stop(0)


def test_summary_keeps_the_start_and_the_root_cause() -> None:
    summary = summarize(LONG)
    assert len(summary) <= MAX_DETAIL
    assert summary.startswith("provisioning failed")
    assert summary.endswith(ROOT_CAUSE)
    assert "characters omitted" in summary
    assert summarize("short") == "short"


async def _details_seen_by_a_client(message: str, *, raise_it: bool = False) -> str:
    async def fail(_request: Any, context: grpc.aio.ServicerContext) -> bytes:
        if raise_it:  # an error no servicer code turned into a status
            raise OSError(28, message)
        await context.abort(grpc.StatusCode.INTERNAL, message)
        raise AssertionError("unreachable")

    server = grpc.aio.server(interceptors=[SummarizeErrors()])
    handler = grpc.unary_unary_rpc_method_handler(fail)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("t.T", {"Fail": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = channel.unary_unary("/t.T/Fail")
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await call(b"", timeout=10)
            return failed.value.details() or ""
    finally:
        await server.stop(0)


@pytest.mark.asyncio
async def test_long_details_arrive_summarised_with_the_root_cause() -> None:
    raw = await _details_seen_by_a_client(LONG)
    assert ROOT_CAUSE not in raw  # the unsummarised status is lost on the way
    summarised = await _details_seen_by_a_client(summarize(LONG))
    assert summarised.startswith("provisioning failed")
    assert summarised.endswith(ROOT_CAUSE)


@pytest.mark.asyncio
async def test_an_unhandled_error_arrives_summarised_with_the_root_cause() -> None:
    details = await _details_seen_by_a_client(LONG, raise_it=True)
    assert details.startswith("OSError: [Errno 28] provisioning failed")
    assert details.endswith(ROOT_CAUSE)
    assert len(details) <= MAX_DETAIL
