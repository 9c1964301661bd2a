"""Small async clients and event collectors for tunnel tests."""

from __future__ import annotations

import asyncio

from metalab_tunnel import EventKind, TunnelEvent


async def http_get(port: int, path: str = "/hello.txt", timeout: float = 10.0) -> bytes:
    """GET over HTTP/1.0 and return the body."""

    async def go() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 200"), head[:100]
        return body

    return await asyncio.wait_for(go(), timeout)


class Events:
    """Collects tunnel events; ``wait_for(kind)`` returns the first of that kind."""

    def __init__(self) -> None:
        self.seen: list[TunnelEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: TunnelEvent) -> None:
        self.seen.append(event)
        self._changed.set()

    def kinds(self) -> list[EventKind]:
        return [e.kind for e in self.seen]

    async def wait_for(self, kind: EventKind, timeout: float = 20.0) -> TunnelEvent:
        async def go() -> TunnelEvent:
            while True:
                for event in self.seen:
                    if event.kind is kind:
                        return event
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(go(), timeout)
