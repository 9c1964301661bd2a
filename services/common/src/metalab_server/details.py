"""gRPC error details that fit: a status message travels in an HTTP/2 header, and one over the
peer's header limit (8-16 KiB) turns the whole status into "Stream removed"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from metalab_server.intercept import WrappingInterceptor

MAX_DETAIL = 4096  # characters; a UTF-8 header of at most 16 KiB
HEAD = 1024


def summarize(message: str, limit: int = MAX_DETAIL) -> str:
    """``message`` when short; else its first line(s) and its end — where a traceback or a
    tool's output states the root cause (``No space left on device``) — with what was left out
    counted in between."""
    if len(message) <= limit:
        return message
    tail = limit - HEAD - 64
    omitted = len(message) - HEAD - tail
    return f"{message[:HEAD]} … [{omitted:,} characters omitted] … {message[-tail:]}"


class SummarizeErrors(WrappingInterceptor):
    """An exception a servicer did not turn into a status ends the call with ``UNKNOWN`` and
    its summarised text (grpc's own status would carry it whole, and lose it over 16 KiB)."""

    def wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler | None:
        if handler.unary_unary is None and handler.unary_stream is None:
            return None
        return _wrap(handler)


async def _abort_with(context: grpc.aio.ServicerContext, exc: Exception) -> None:
    await context.abort(grpc.StatusCode.UNKNOWN, summarize(f"{type(exc).__name__}: {exc}"))


def _wrap(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    kw = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        unary = handler.unary_unary

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await unary(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # noqa: BLE001 - every other error becomes this status
                await _abort_with(context, exc)

        return grpc.unary_unary_rpc_method_handler(call, **kw)
    stream = handler.unary_stream

    async def streamed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for item in stream(request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - every other error becomes this status
            await _abort_with(context, exc)

    return grpc.unary_stream_rpc_method_handler(streamed, **kw)
