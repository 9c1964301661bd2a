"""Small async clients, event collectors and fixture records for tunnel tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from metalab_tunnel.model import EventKind, TunnelEvent
from tests.support.netns import JumpTopology
from tests.support.sshd import SshServer


@dataclass
class HttpServer:
    host: str
    port: int
    root: Path
    body: bytes


@dataclass
class Postgres:
    port: int
    user: str


@dataclass
class Jump:
    topology: JumpTopology
    gateway: SshServer
    node: SshServer
    http_port: int


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


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def ssh_processes(pids: list[int]) -> list[int]:
    """Those of ``pids`` that still run ssh (not zombies)."""
    alive = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, state = stat.split("(", 1)[1].rsplit(")", 1)[0], stat.rsplit(")", 1)[1].split()[0]
        if name == "ssh" and state != "Z":
            alive.append(pid)
    return alive
