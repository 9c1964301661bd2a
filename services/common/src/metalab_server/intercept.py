"""The base of the servers' interceptors: each method's handler is wrapped once, then reused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc


class WrappingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Serves each method with `wrap` of its handler, built on the method's first call
    (the methods in `as_is` are served unwrapped)."""

    as_is: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler | None:
        """The handler to serve instead of ``handler``; None leaves it as it is."""
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None or method in self.as_is:
            return handler
        wrapped = self.wrap(handler)
        if wrapped is None:
            return handler
        self._wrapped[method] = wrapped
        return wrapped
