"""The local side of the OpenSSH data path: accept on our listeners, hand each socket to ssh.

Everything on the fast path is a plain callback (no task per connection): accept, pass the socket
to the current master, close our copy, watch the control connection and close it as soon as ssh
does (ssh keeps a channel per open control connection and polls them all: reaping them in
periodic sweeps instead was measured slower). A connection accepted while there is no master (an
outage) waits in a task for the next one.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

from metalab.core.ssh_options import ForwardSpec
from metalab_tunnel import mux
from metalab_tunnel.openssh import MasterRoute

log = logging.getLogger(__name__)

_GONE = (errno.ECONNREFUSED, errno.ENOENT)  # the master is going away: wait for the next one
_REPLY_LIMIT = 4096


class HandOver:
    """Hands accepted connections to ``current()`` — the live master route, or None."""

    def __init__(
        self, current: Callable[[], MasterRoute | None], ready: asyncio.Event, closed: asyncio.Event
    ) -> None:
        self._current = current
        self._ready = ready
        self._closed = closed
        self._loop = asyncio.get_running_loop()
        self._listeners: list[socket.socket] = []
        self._controls: dict[socket.socket, bytes | None] = {}  # None: reply seen
        self._waiting: set[asyncio.Task[None]] = set()

    def serve(self, listener: socket.socket, spec: ForwardSpec) -> None:
        # Accepted sockets inherit it (Linux): no Nagle delays, as ssh -L sets on its own.
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._listeners.append(listener)
        self._loop.add_reader(listener.fileno(), self._accept, listener, spec)

    def _accept(self, listener: socket.socket, spec: ForwardSpec) -> None:
        """One connection per call: the reader fires again while the backlog is not empty, and
        a loop until EAGAIN costs an exception per wake-up."""
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # e.g. out of file descriptors: leave it in the backlog
            log.warning("accept on %s: %s", listener.getsockname(), exc.strerror)
            return
        if not self._try(conn, spec):
            task = self._loop.create_task(self._wait_and_hand_over(conn, spec))
            self._waiting.add(task)
            task.add_done_callback(self._waiting.discard)

    def _try(self, conn: socket.socket, spec: ForwardSpec) -> bool:
        """Hand ``conn`` over now if a master is up; False if it has to wait for one."""
        route = self._current()
        if route is None or not self._ready.is_set():
            return False
        try:
            control = route.hand_over(conn, spec)
        except OSError as exc:
            if exc.errno in _GONE:
                return False
            log.warning("%s:%s: cannot reach ssh: %s", spec.remote_host, spec.remote_port, exc)
            conn.close()
            return True
        conn.close()  # ssh holds it now
        self._controls[control] = b""
        self._on_reply(control, spec)  # the master's hello is usually there already
        if control in self._controls:
            self._loop.add_reader(control.fileno(), self._on_reply, control, spec)
        return True

    async def _wait_and_hand_over(self, conn: socket.socket, spec: ForwardSpec) -> None:
        try:
            while not self._closed.is_set():
                await self._ready.wait()
                route = self._current()
                if self._closed.is_set() or self._try(conn, spec):
                    return
                while self._current() is route and not self._closed.is_set():
                    await asyncio.sleep(0.02)  # the supervisor is replacing it
        finally:
            conn.close()  # a no-op once handed over

    def _on_reply(self, control: socket.socket, spec: ForwardSpec) -> None:
        try:
            data = control.recv(_REPLY_LIMIT, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(control)
            return
        replies = self._controls[control]
        if replies is None:
            return
        replies += data
        opened, reason = mux.outcome(replies)
        if reason:
            log.warning("%s:%s: %s", spec.remote_host, spec.remote_port, reason)
        self._controls[control] = (
            None if opened or reason or len(replies) > _REPLY_LIMIT else replies
        )

    def _drop(self, control: socket.socket) -> None:
        """Close a control connection as soon as ssh has: until then it keeps a channel for it."""
        self._loop.remove_reader(control.fileno())
        self._controls.pop(control, None)
        control.close()

    async def close(self) -> None:
        """Stop accepting, end every handed-over connection and every waiting one."""
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            self._loop.remove_reader(listener.fileno())
        for control in list(self._controls):
            self._drop(control)  # ssh ends the channel and closes the socket it was given
        tasks = list(self._waiting)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
