"""Server-side deadlines: every call gets one, even when the client sent none."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from metalab_server.intercept import WrappingInterceptor

DEFAULT_UNARY_DEADLINE = 60.0


class DeadlineInterceptor(WrappingInterceptor):
    """Bound unary calls by the client's deadline or ``default``, whichever is shorter.

    Streaming calls (Up, Logs, Open, Watch) are long-lived by design; they are bounded by the
    client's deadline (grpc enforces it) and by per-phase budgets inside the servicers.
    """

    def __init__(self, default: float = DEFAULT_UNARY_DEADLINE) -> None:
        super().__init__()
        self._default = default

    def wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler | None:
        return None if handler.unary_unary is None else self._bound(handler)

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
