"""Pump bytes between one accepted local socket and one SSH channel, with flow control both ways.

The local socket is paused until its channel is open, so a connection accepted during an outage
waits for the reconnect instead of being refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import asyncssh

# Local write buffer before the channel is paused: big enough to keep bulk transfers streaming.
LOCAL_HIGH_WATER = 2 * 1024 * 1024


class ChannelSide(asyncssh.SSHTCPSession[bytes]):
    """The SSH half: channel data goes to the local transport."""

    def __init__(self, local: LocalSide) -> None:
        self._local = local

    def connection_made(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        self._local.attach(chan)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._local.write(data)

    def eof_received(self) -> bool:
        self._local.remote_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._local.close()

    def pause_writing(self) -> None:
        self._local.pause_reading()

    def resume_writing(self) -> None:
        self._local.resume_reading()


Opener = Callable[["LocalSide"], Coroutine[Any, Any, None]]


class LocalSide(asyncio.Protocol):
    """The local half: an accepted connection on a forward's listening socket."""

    def __init__(self, opener: Opener, active: set[LocalSide]) -> None:
        self._opener = opener
        self._active = active
        self.transport: asyncio.Transport | None = None
        self.chan: asyncssh.SSHTCPChannel[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._local_eof = False
        self._remote_eof = False
        self._closed = False
        self._pending: list[bytes] = []  # read before the channel was open

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no asyncio.Transport
        self._active.add(self)
        self.transport.set_write_buffer_limits(high=LOCAL_HIGH_WATER)
        self.transport.pause_reading()
        self._task = asyncio.get_running_loop().create_task(self._opener(self))

    def attach(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        """The channel is open: send what was read meanwhile, then read the local socket."""
        self.chan = chan
        if self.transport is None or self._closed:
            chan.close()
            return
        for data in self._pending:
            self.chan.write(data)
        self._pending.clear()
        if self._local_eof:
            self.chan.write_eof()
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.chan is not None:
            self.chan.write(data)
        else:
            # Python 3.11 may deliver data although reading was paused in connection_made;
            # keep it and pause now (the reader is registered by now, so this sticks).
            self._pending.append(data)
            self.pause_reading()

    def eof_received(self) -> bool:
        self._local_eof = True
        if self.chan is not None:
            self.chan.write_eof()
        if self._remote_eof:
            self.close()
        return True

    def remote_eof(self) -> None:
        self._remote_eof = True
        if self.transport is not None and self.transport.can_write_eof():
            self.transport.write_eof()
        if self._local_eof:
            self.close()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self._closed:
            self.transport.write(data)

    def pause_writing(self) -> None:
        if self.chan is not None:
            self.chan.pause_reading()

    def resume_writing(self) -> None:
        if self.chan is not None:
            self.chan.resume_reading()

    def pause_reading(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._active.discard(self)
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        if self.chan is not None:
            self.chan.close()
        if self.transport is not None:
            self.transport.close()
