"""Server-side deadlines: every call gets one, even when the client sent none."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

DEFAULT_UNARY_DEADLINE = 60.0


class DeadlineInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Bound unary calls by the client's deadline or ``default``, whichever is shorter.

    Streaming calls (Up, Logs, Open, Watch) are long-lived by design; they are bounded by the
    client's deadline (grpc enforces it) and by per-phase budgets inside the servicers.
    """

    def __init__(self, default: float = DEFAULT_UNARY_DEADLINE) -> None:
        self._default = default
        self._bounded: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        cached = self._bounded.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        bounded = self._bound(handler)
        self._bounded[method] = bounded
        return bounded

    def _bound(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` with its unary behaviour bounded (built once per method)."""
        inner = handler.unary_unary
        default = self._default

        async def bounded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            remaining = context.time_remaining()
            if remaining is not None and remaining <= default:
                return await inner(request, context)  # grpc enforces the client's deadline
            try:
                async with asyncio.timeout(default):
                    return await inner(request, context)
            except TimeoutError:
                await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"exceeded {default:.1f}s")

        return grpc.unary_unary_rpc_method_handler(
            bounded,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
