"""Cancel a request's PostgreSQL statements when its HTTP client disconnects.

`WatchDisconnect` gives every GET/HEAD request a `Watch` (in a context variable, which
Starlette's worker threads inherit) and listens for the client's ``http.disconnect`` while the
request runs. Each statement run for the request registers a way to cancel it with
`statement`; on disconnect, every registered statement is cancelled (psycopg's
``cancel_safe``: PostgreSQL's cancel request) and none starts afterwards, so the backend and
its pool slot are free again at once instead of after ``statement_timeout``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metalab.core.errors import StoreError

Cancel = Callable[[], None]


class ClientGone(StoreError):
    """The HTTP client disconnected: the request's store work was cancelled."""


class Watch:
    """The statements running for one HTTP request, cancelled together when it is gone."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, Cancel] = {}
        self.gone = False

    @contextmanager
    def running(self, cancel: Cancel) -> Iterator[None]:
        """Register a statement for the duration of the block; refused once the client is
        gone. A cancel is sent only while registered, so it never reaches the connection's
        next user (an idle backend ignores a late one)."""
        key = id(cancel)
        with self._lock:
            if self.gone:
                raise ClientGone("the client disconnected")
            self._running[key] = cancel
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(key, None)

    def cancel(self) -> None:
        with self._lock:
            self.gone = True
            for cancel in self._running.values():
                cancel()


_current: ContextVar[Watch | None] = ContextVar("atlas_request_watch", default=None)


@contextmanager
def statement(cancel: Cancel) -> Iterator[None]:
    """Run a store statement for the current request (if any), cancelled by ``cancel``."""
    watch = _current.get()
    if watch is None:
        yield
        return
    with watch.running(cancel):
        yield


def client_gone() -> bool:
    watch = _current.get()
    return watch is not None and watch.gone


class WatchDisconnect:
    """ASGI middleware: cancel the statements of a GET/HEAD request under ``prefix`` when
    its client disconnects.

    The request's one body message is read first and replayed to the application; the next
    message the server has for a complete request can only be ``http.disconnect``, which this
    middleware waits for while the application runs and hands on when it asks.
    """

    def __init__(self, app: ASGIApp, prefix: str = "/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or not str(scope.get("path", "")).startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        first = await receive()
        if first["type"] == "http.disconnect":
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return first

        if first.get("more_body", False):  # a GET with a streamed body: not watched
            await self.app(scope, replay, send)
            return
        await self._watched(scope, first, receive, send)

    async def _watched(self, scope: Scope, first: Message, receive: Receive, send: Send) -> None:
        watch = Watch()
        disconnected = asyncio.Event()
        state = {"replayed": False, "finished": False}

        async def app_receive() -> Message:
            if not state["replayed"]:
                state["replayed"] = True
                return first
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def app_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                state["finished"] = True
            await send(message)

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected.set()
            if not state["finished"]:
                # psycopg's cancel opens a connection: never on the event loop
                threading.Thread(target=watch.cancel, name="atlas-cancel", daemon=True).start()

        token = _current.set(watch)
        listener = asyncio.ensure_future(listen())  # cheaper than an anyio task group
        try:
            await self.app(scope, app_receive, app_send)
        finally:
            listener.cancel()
            _current.reset(token)
