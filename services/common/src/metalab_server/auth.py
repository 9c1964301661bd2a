"""Bearer-token authentication as a grpc.aio server interceptor.

A caller without the token never makes the server read its request: gRPC receives a whole
message (up to the 2 MiB limit) before a *unary* handler runs, and those buffers stay in the
allocator — 200 refused 1.9 MiB calls grew a server by ~360 MB that it never gave back
(`benchmarks/bench_grpc_memory.py`). So a refusal is a client-streaming handler that never reads
(on the wire every method kind is the same HTTP/2 stream): the request gets no further than the
stream's 64 KiB window. The one method open to everyone, ``Health/Check``, reads its request
only while fewer than `UNAUTHENTICATED_READS` such reads are under way.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2

from metalab_server.memory import Reclaimer

CHECK = "/grpc.health.v1.Health/Check"  # callable without a token: container health checks
MAX_SERVICE_NAME = 256  # longer than any service's full name
UNAUTHENTICATED_READS = 4  # health checks without a token read at once; more: RESOURCE_EXHAUSTED


def _abort_handler(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    """A handler that ends the call with ``code`` without reading its request."""

    async def abort(_requests: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(code, message)

    return grpc.stream_unary_rpc_method_handler(abort)


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Reject calls whose ``authorization`` metadata is not ``Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()
        self._missing = _abort_handler(grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
        self._wrong = _abort_handler(grpc.StatusCode.UNAUTHENTICATED, "invalid bearer token")
        self._busy = _abort_handler(
            grpc.StatusCode.RESOURCE_EXHAUSTED, "too many health checks without a token at once"
        )
        self._reads = asyncio.Semaphore(UNAUTHENTICATED_READS)
        self._reclaim = Reclaimer()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        supplied = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization":
                supplied = value.encode() if isinstance(value, str) else value
                break
        if supplied is not None and hmac.compare_digest(supplied, self._expected):
            return await continuation(handler_call_details)
        if handler_call_details.method == CHECK:
            handler = await continuation(handler_call_details)
            return self._bounded(handler) if handler is not None else handler
        return self._missing if supplied is None else self._wrong

    def _bounded(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` (unary) behind a cap on the requests read at once without a token."""
        if self._reads.locked():
            return self._busy

        async def check(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            if self._reads.locked():
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many health checks")
            async with self._reads:
                request = await _first(requests)
            # Only the service name goes on, cut to a length no service name reaches (so the
            # answer is the same): an abort (NOT_FOUND) leaves the request it was given in
            # reference cycles (exception, traceback, frames) until the cycle collector runs.
            small = health_pb2.HealthCheckRequest(service=request.service[:MAX_SERVICE_NAME])
            del request
            try:
                return await handler.unary_unary(small, context)
            finally:
                self._reclaim.soon()  # what reading it left in the heaps goes back in a second

        return grpc.stream_unary_rpc_method_handler(
            check,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


async def _first(requests: Any) -> Any:
    async for request in requests:
        return request
    raise ValueError("no request")
