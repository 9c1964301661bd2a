"""A global cap on the request bytes that callers other than the owner make the server hold.

Every server that checks a token (TCP, and the shared socket's) admits at most
`MAX_CONCURRENT_RPCS` calls of up to 2 MiB each: without this cap a token holder could make it
hold ~200 MiB of requests for as long as its calls last (a `Watch` lasts for hours). Here a
request is read only while fewer than `READS_AT_ONCE` are being read (the others wait in their
stream's 64 KiB window, holding nothing), within `READ_TIMEOUT`; its size then counts against
`MAX_HELD_BYTES` until its call ends, and a request that would pass the cap is dropped at once
and the call ends with ``RESOURCE_EXHAUSTED``. The owner's socket has no such cap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from metalab_server.auth import CHECK
from metalab_server.intercept import WrappingInterceptor

MAX_HELD_BYTES = 32 << 20  # request bytes held at once by all callers other than the owner
READS_AT_ONCE = 8  # requests being received at once (each at most the 2 MiB message limit)
READ_TIMEOUT = 30.0  # seconds to receive one request once its read has begun


class HeldBytesInterceptor(WrappingInterceptor):
    """Cap the bytes of the requests of the calls in progress (see the module)."""

    as_is = frozenset({CHECK})  # answered at once: nothing is held

    def __init__(self, cap: int = MAX_HELD_BYTES) -> None:
        super().__init__()
        self.cap = cap
        self.held = 0
        self._reads = asyncio.Semaphore(READS_AT_ONCE)

    async def _admit(self, requests: Any, context: grpc.aio.ServicerContext) -> bytes | None:
        """The next raw request (None at the end of the stream), counted in `held`."""
        async with self._reads:
            try:
                async with asyncio.timeout(READ_TIMEOUT):
                    raw: bytes | None = await anext(aiter(requests), None)
            except TimeoutError:
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "request too slow")
        if raw is None:
            return None
        if self.held + len(raw) > self.cap:
            size = len(raw)
            del raw
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"requests held for other accounts would pass {self.cap:,} bytes "
                f"(this one: {size:,}); try again later",
            )
        self.held += len(raw)
        return raw

    def wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        parse: Callable[[bytes], Any] = handler.request_deserializer or (lambda raw: raw)
        kw = {"response_serializer": handler.response_serializer}
        if handler.unary_unary is not None or handler.unary_stream is not None:
            return self._wrap_unary_request(handler, parse, kw)
        behaviour = handler.stream_unary or handler.stream_stream

        async def messages(requests: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            size = 0
            try:
                while True:
                    self.held -= size
                    size = 0
                    raw = await self._admit(requests, context)
                    if raw is None:
                        return
                    size = len(raw)
                    yield parse(raw)
            finally:
                self.held -= size

        if handler.stream_unary is not None:

            async def stream_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                return await behaviour(messages(requests, context), context)

            return grpc.stream_unary_rpc_method_handler(stream_unary, **kw)

        async def stream_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            async for item in behaviour(messages(requests, context), context):
                yield item

        return grpc.stream_stream_rpc_method_handler(stream_stream, **kw)

    def _wrap_unary_request(
        self,
        handler: grpc.RpcMethodHandler,
        parse: Callable[[bytes], Any],
        kw: dict[str, Any],
    ) -> grpc.RpcMethodHandler:
        async def first(requests: Any, context: grpc.aio.ServicerContext) -> tuple[Any, int]:
            raw = await self._admit(requests, context)
            if raw is None:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no request")
            assert raw is not None
            try:
                return parse(raw), len(raw)
            except Exception:  # noqa: BLE001 - any parse failure is the caller's
                self.held -= len(raw)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "cannot parse the request")
                raise

        if handler.unary_unary is not None:
            unary = handler.unary_unary

            async def unary_unary(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                request, size = await first(requests, context)
                try:
                    return await unary(request, context)
                finally:
                    self.held -= size

            return grpc.stream_unary_rpc_method_handler(unary_unary, **kw)
        stream = handler.unary_stream

        async def unary_stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            request, size = await first(requests, context)
            try:
                async for item in stream(request, context):
                    yield item
            finally:
                self.held -= size

        return grpc.stream_stream_rpc_method_handler(unary_stream, **kw)
