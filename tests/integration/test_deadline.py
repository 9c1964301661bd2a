"""Every unary call gets a deadline on the server, over a real socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from metalab_server.deadline import DeadlineInterceptor

METHOD = "/test.Slow/Sleep"


async def _sleep(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.sleep(float(request.decode()))
    return b"done"


async def _call(
    tmp_path: Path, seconds: float, client_timeout: float | None, default: float
) -> tuple[grpc.StatusCode, float]:
    server = grpc.aio.server(interceptors=[DeadlineInterceptor(default)])
    handler = grpc.unary_unary_rpc_method_handler(_sleep)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("test.Slow", {"Sleep": handler})]
    )
    address = f"unix:{tmp_path}/slow.sock"
    server.add_insecure_port(address)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            call = channel.unary_unary(METHOD)
            loop = asyncio.get_running_loop()
            started = loop.time()
            try:
                await call(str(seconds).encode(), timeout=client_timeout)
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
            return code, loop.time() - started
    finally:
        await server.stop(None)


@pytest.mark.parametrize(
    ("client_timeout", "default"),
    [(None, 0.3), (30.0, 0.3), (0.3, 30.0)],
    ids=["no-client-deadline", "client-deadline-longer", "client-deadline-shorter"],
)
def test_slow_call_ends_at_the_shorter_deadline(
    tmp_path: Path, client_timeout: float | None, default: float
) -> None:
    code, elapsed = asyncio.run(_call(tmp_path, 10.0, client_timeout, default))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert elapsed < 5.0  # not the handler's 10 s


def test_quick_call_succeeds_twice(tmp_path: Path) -> None:
    """The bounded handler is built once per method and reused."""
    for _ in range(2):
        code, _ = asyncio.run(_call(tmp_path, 0.0, None, 5.0))
        assert code == grpc.StatusCode.OK
