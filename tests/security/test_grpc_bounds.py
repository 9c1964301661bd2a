"""The gRPC servers bound what an unauthenticated caller can make them hold, and long error
details reach the client summarised, root cause kept (not "Stream removed").

A real server (`start_server`) on loopback TCP with a token, called by a real channel.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from metalab.v1 import registry_pb2, registry_pb2_grpc, types_pb2
from metalab_orchestrator.runtime.process import wait_for
from metalab_server import auth
from metalab_server.details import MAX_DETAIL, SummarizeErrors, summarize
from metalab_server.server import MAX_MESSAGE, start_server
from tests.helpers import METALAB
from tests.support.ports import free_port

ROOT_CAUSE = "OSError: [Errno 28] No space left on device"
AUTH = (("authorization", "Bearer s3cret"),)
LONG = "provisioning failed\n" + "x" * 40_000 + "\n" + ROOT_CAUSE


def _put(project: str, log_path: str) -> registry_pb2.PutBundleRequest:
    bundle = types_pb2.Bundle(project=project, environment="e", file_root="/nonexistent")
    bundle.services["atlas"].CopyFrom(types_pb2.ServiceHandle(log_path=log_path))
    return registry_pb2.PutBundleRequest(bundle=bundle)


@pytest.mark.asyncio
async def test_unauthenticated_messages_are_refused_unread() -> None:
    """Without the token no request is read: one over the size limit gets UNAUTHENTICATED
    (had it been read, RESOURCE_EXHAUSTED); with the token the limit applies."""
    running = await start_server(["registry"], "127.0.0.1:0", token="s3cret")
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = registry_pb2_grpc.RegistryStub(channel)
            for size in (MAX_MESSAGE + 1024, 15 << 20, MAX_MESSAGE // 2):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.PutBundle(_put("p", "y" * size), timeout=10)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as too_big:
                await stub.PutBundle(
                    _put("p", "x" * (MAX_MESSAGE + 1024)), timeout=10, metadata=AUTH
                )
            assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            health = health_pb2_grpc.HealthStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as watch:  # long-lived: token needed
                async for _ in health.Watch(health_pb2.HealthCheckRequest(), timeout=10):
                    pass
            assert watch.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await running.stop(0)


@pytest.mark.asyncio
async def test_health_check_without_a_token_reads_few_requests_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "UNAUTHENTICATED_READS", 0)  # every read slot taken
    running = await start_server(["registry"], "127.0.0.1:0", token="s3cret")
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as busy:
                await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert busy.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            served = await health.Check(health_pb2.HealthCheckRequest(), timeout=10, metadata=AUTH)
            assert served.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await running.stop(0)


def test_refused_messages_leave_no_lasting_growth(tmp_path: Path) -> None:
    """A real `metalab server` after 200 PutBundle calls of 1.9 MiB and 100 Health/Check
    calls of 1.9 MiB, all without a token, at once: before the fix it stayed ~280 MB larger
    (`benchmarks/bench_grpc_memory.py`); now it comes back within a few MB."""
    tmp_path.chmod(0o700)
    address = f"127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [METALAB, "server", "--services", "registry", "--listen", address],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "METALAB_HOME": str(tmp_path)},
    )
    try:
        assert server.stderr is not None
        assert "metalab server" in server.stderr.readline()
        before = _rss_mib(server.pid)
        size = int(1.9 * (1 << 20))
        put = _put("p", "y" * size).SerializeToString()
        check = health_pb2.HealthCheckRequest(service="y" * size).SerializeToString()
        for method, payload in [(PUT, put), (PUT, put), (CHECK, check)]:
            asyncio.run(_burst(address, method, payload, 100))
        assert wait_for(lambda: _rss_mib(server.pid) - before < 30, 30.0), (
            f"{before:.0f} MB -> {_rss_mib(server.pid):.0f} MB"
        )
    finally:
        server.terminate()
        server.wait(30)


PUT = "/metalab.v1.Registry/PutBundle"
CHECK = "/grpc.health.v1.Health/Check"


async def _burst(address: str, method: str, payload: bytes, count: int) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(method)

        async def one() -> None:
            try:
                await call(payload, timeout=60)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() in REFUSED, exc

        await asyncio.gather(*(one() for _ in range(count)))


REFUSED = (
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


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
