"""``Tunnels`` gRPC servicer: translates messages and keeps the registry of running tunnels.

Open streams TunnelEvents. Without ``detach`` the tunnel lives as long as the stream: cancelling
the call closes it. With ``detach`` the stream ends after ESTABLISHED and the tunnel keeps running
in this process until Close. A tunnel that cannot be opened yields one FAILED event whose message
is the reason, then the stream ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import grpc

from metalab.core.errors import ConfigError, TunnelError
from metalab.core.status import abort
from metalab.v1 import tunnel_pb2, tunnel_pb2_grpc
from metalab_server.details import summarize
from metalab_tunnel.convert import event_to_proto, forward_to_proto, spec_from_proto
from metalab_tunnel.model import EventKind, TunnelEvent, TunnelSpec

if TYPE_CHECKING:
    from metalab_tunnel.forwarder import Tunnel

_FINAL = (EventKind.CLOSED, EventKind.FAILED)


@dataclass
class _Entry:
    tunnel_id: str
    spec: TunnelSpec
    tunnel: Tunnel
    stream: asyncio.Queue[TunnelEvent] | None = field(default_factory=asyncio.Queue)

    def deliver(self, event: TunnelEvent) -> None:
        if self.stream is not None:
            self.stream.put_nowait(event)


class TunnelsServicer(tunnel_pb2_grpc.TunnelsServicer):
    """Owns the tunnels it opens; ``close_all()`` on server shutdown."""

    def __init__(self) -> None:
        self._tunnels: dict[str, _Entry] = {}

    async def Open(  # noqa: N802 - gRPC method name
        self, request: tunnel_pb2.TunnelSpec, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[tunnel_pb2.TunnelEvent]:
        try:
            spec = spec_from_proto(request)
        except (ValueError, ConfigError) as exc:
            await abort(context, ConfigError(str(exc)), summarize(str(exc)))
            return
        tunnel_id = uuid.uuid4().hex[:12]
        holder: list[_Entry] = []
        try:
            from metalab_tunnel.forwarder import Tunnel  # asyncssh loads only when needed

            tunnel = Tunnel(spec, lambda event: holder[0].deliver(event) if holder else None)
        except TunnelError as exc:
            await abort(context, exc, summarize(str(exc)))
            return
        entry = _Entry(tunnel_id, spec, tunnel)
        holder.append(entry)
        try:
            await tunnel.start()
        except TunnelError as exc:
            yield tunnel_pb2.TunnelEvent(
                kind=tunnel_pb2.TunnelEvent.FAILED, tunnel_id=tunnel_id, message=str(exc)
            )
            return
        self._tunnels[tunnel_id] = entry
        if request.detach:
            entry.stream = None
            yield tunnel_pb2.TunnelEvent(
                kind=tunnel_pb2.TunnelEvent.ESTABLISHED,
                tunnel_id=tunnel_id,
                forwards=[forward_to_proto(f) for f in tunnel.forwards],
                message=f"{tunnel.mode} mode, {tunnel.data_path} data path, detached",
            )
            return
        try:
            queue = entry.stream
            assert queue is not None
            while True:
                event = await queue.get()
                yield event_to_proto(tunnel_id, event)
                if event.kind in _FINAL:
                    break
        finally:
            self._tunnels.pop(tunnel_id, None)
            await asyncio.shield(tunnel.close())

    async def List(  # noqa: N802
        self, request: tunnel_pb2.ListTunnelsRequest, context: grpc.aio.ServicerContext
    ) -> tunnel_pb2.ListTunnelsResponse:
        return tunnel_pb2.ListTunnelsResponse(
            tunnels=[
                tunnel_pb2.TunnelInfo(
                    tunnel_id=entry.tunnel_id,
                    project=entry.spec.project,
                    environment=entry.spec.environment,
                    forwards=[forward_to_proto(f) for f in entry.tunnel.forwards],
                    state=entry.tunnel.state,
                )
                for entry in self._tunnels.values()
            ]
        )

    async def Close(  # noqa: N802
        self, request: tunnel_pb2.CloseTunnelRequest, context: grpc.aio.ServicerContext
    ) -> tunnel_pb2.CloseTunnelResponse:
        if request.all:
            ids = list(self._tunnels)
        elif request.tunnel_id in self._tunnels:
            ids = [request.tunnel_id]
        else:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no tunnel {request.tunnel_id!r}")
            return tunnel_pb2.CloseTunnelResponse()
        for tunnel_id in ids:
            entry = self._tunnels.pop(tunnel_id, None)
            if entry is not None:
                await entry.tunnel.close()
        return tunnel_pb2.CloseTunnelResponse(closed=len(ids))

    async def close_all(self) -> None:
        entries, self._tunnels = list(self._tunnels.values()), {}
        await asyncio.gather(*(e.tunnel.close() for e in entries))
