"""The peer-credential relay in front of `metalab server`'s shared socket (``--shared-socket``).

gRPC's Python server cannot tell who is calling on a Unix socket (docs/security.md, "Why a
relay"), so `metalab server` accepts on the shared socket itself, asks the kernel for each
connection's peer (``SO_PEERCRED``, fixed at ``connect()``) and copies the connection's bytes
to one of two gRPC listeners: the owner socket (no token) when the peer runs as the server's
uid — root only when the server is root — and a token-checking one in a private 0700 directory
for every other account. The owner's own clients go to the owner socket directly.

Bounded: at most `MAX_CONNECTIONS` connections of other accounts and as many of the owner's at
once (more are closed on accept), a connection silent for `IDLE_TIMEOUT` in both directions is
closed, and each direction holds at most one `CHUNK` plus the streams' 64 KiB buffers (a slow
reader pauses the writer through ``drain``). Either side's end closes both; what is still
buffered for a peer that does not read is dropped after `CLOSE_GRACE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 128  # per class of peer: the owner's, and every other account's together
IDLE_TIMEOUT = 300.0  # seconds without a byte either way (the servers ping open calls sooner)
CHUNK = 64 << 10
CLOSE_GRACE = 2.0  # seconds to flush a closing connection's buffer before it is aborted
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process that connected ``sock`` (as the kernel recorded it)."""
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
    return int(_CRED.unpack(data)[1])


@dataclass
class _Route:
    """Where one class of peer goes, and how many of its connections are open."""

    target: str
    open: int = 0


@dataclass
class PeerRelay:
    """Accept on ``public``; relay the owner's connections to ``owner``, others' to ``others``."""

    public: str
    owner: str
    others: str
    uid: int = field(default_factory=os.geteuid)
    idle_timeout: float = IDLE_TIMEOUT
    max_connections: int = MAX_CONNECTIONS
    _server: asyncio.Server | None = field(default=None, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    _routes: dict[bool, _Route] = field(default_factory=dict, repr=False)

    async def start(self) -> None:
        """Listen on the public socket, mode 0666: the peer check, not the file, decides."""
        self._routes = {True: _Route(self.owner), False: _Route(self.others)}
        self._server = await asyncio.start_unix_server(self._accept, path=self.public, limit=CHUNK)
        os.chmod(self.public, 0o666)

    async def stop_accepting(self) -> None:
        """Close the public socket; relayed connections go on."""
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        """Stop accepting and close every relayed connection."""
        await self.stop_accepting()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            sock = writer.get_extra_info("socket")
            try:
                owner = peer_uid(sock) == self.uid
            except OSError:
                return
            route = self._routes[owner]
            if route.open >= self.max_connections:
                log.warning("relay: %d connections open, closing a new one", route.open)
                return
            route.open += 1
            try:
                await self._relay(reader, writer, route.target)
            finally:
                route.open -= 1
        finally:
            await _close(writer)
            self._tasks.discard(task)

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str
    ) -> None:
        try:
            inner_reader, inner_writer = await asyncio.open_unix_connection(target, limit=CHUNK)
        except OSError:
            return
        clock = _Clock(self.idle_timeout)
        try:
            pumps = [
                asyncio.ensure_future(_pump(reader, inner_writer, clock)),
                asyncio.ensure_future(_pump(inner_reader, writer, clock)),
                asyncio.ensure_future(_watch(clock)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            await _close(inner_writer)


class _Clock:
    """When a relayed connection last carried a byte, in either direction."""

    def __init__(self, idle_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self.last = time.monotonic()

    def remaining(self) -> float:
        return self.last + self.idle_timeout - time.monotonic()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, clock: _Clock) -> None:
    """Copy until end of file or an error; each chunk is written out before the next read."""
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            clock.last = time.monotonic()
            writer.write(data)
            await writer.drain()


async def _watch(clock: _Clock) -> None:
    """Return once the connection has carried no byte either way for the clock's timeout
    (one timer per connection, not one per read)."""
    while (left := clock.remaining()) > 0:
        await asyncio.sleep(left)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close after flushing what is buffered; a peer that does not read within `CLOSE_GRACE`
    (or a relay shutting down) gets the connection aborted instead of holding it."""
    writer.close()
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        writer.transport.abort()
        return
    try:
        async with asyncio.timeout(CLOSE_GRACE):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()
