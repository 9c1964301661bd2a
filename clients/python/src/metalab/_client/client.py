"""`MetalabClient`: one async object for the registry, orchestrator and tunnel services."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc

from metalab._client.target import ServerTarget, resolve_target
from metalab.core.status import mapped_errors
from metalab.v1 import (
    orchestrator_pb2,
    orchestrator_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
    tunnel_pb2,
    tunnel_pb2_grpc,
    types_pb2,
)

UNARY_DEADLINE = 30.0
UP_DEADLINE = 24 * 3600.0  # the Up stream enforces its own per-phase budgets
EMBEDDED_DIRS: set[str] = set()  # private socket dirs of embedded servers, for a hard exit


class MetalabClient:
    """Typed calls with deadlines; errors come out as `metalab.errors` types, never gRPC ones."""

    def __init__(self, channel: grpc.aio.Channel, token: str | None = None) -> None:
        self._channel = channel
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.registry = registry_pb2_grpc.RegistryStub(channel)
        self.orchestrator = orchestrator_pb2_grpc.OrchestratorStub(channel)
        self.tunnels = tunnel_pb2_grpc.TunnelsStub(channel)

    async def close(self) -> None:
        await self._channel.close()

    async def get_bundle(self, key: types_pb2.BundleKey) -> types_pb2.Bundle:
        with mapped_errors("GetBundle"):
            bundle: types_pb2.Bundle = await self.registry.GetBundle(
                key, timeout=UNARY_DEADLINE, metadata=self._metadata
            )
        return bundle

    async def put_bundle(
        self, bundle: types_pb2.Bundle, expected_nonce: str = ""
    ) -> types_pb2.Bundle:
        request = registry_pb2.PutBundleRequest(bundle=bundle, expected_nonce=expected_nonce)
        with mapped_errors("PutBundle"):
            stored: types_pb2.Bundle = await self.registry.PutBundle(
                request, timeout=UNARY_DEADLINE, metadata=self._metadata
            )
        return stored

    async def delete_bundle(self, key: types_pb2.BundleKey, expected_nonce: str = "") -> bool:
        request = registry_pb2.DeleteBundleRequest(key=key, expected_nonce=expected_nonce)
        with mapped_errors("DeleteBundle"):
            response = await self.registry.DeleteBundle(
                request, timeout=UNARY_DEADLINE, metadata=self._metadata
            )
        return bool(response.deleted)

    async def discover(
        self, start_dir: Path, project: str = "", environment: str = ""
    ) -> registry_pb2.DiscoverResponse:
        request = registry_pb2.DiscoverRequest(
            start_dir=str(start_dir), project=project, environment=environment
        )
        with mapped_errors("Discover"):
            response: registry_pb2.DiscoverResponse = await self.registry.Discover(
                request, timeout=UNARY_DEADLINE, metadata=self._metadata
            )
        return response

    async def up(
        self, request: orchestrator_pb2.UpRequest
    ) -> AsyncIterator[orchestrator_pb2.UpEvent]:
        with mapped_errors("Up"):
            async for event in self.orchestrator.Up(
                request, timeout=UP_DEADLINE, metadata=self._metadata
            ):
                yield event

    async def down(
        self, spec: types_pb2.EnvironmentSpec
    ) -> AsyncIterator[orchestrator_pb2.UpEvent]:
        request = orchestrator_pb2.DownRequest(spec=spec)
        with mapped_errors("Down"):
            async for event in self.orchestrator.Down(
                request, timeout=UP_DEADLINE, metadata=self._metadata
            ):
                yield event

    async def status(self, spec: types_pb2.EnvironmentSpec) -> orchestrator_pb2.StatusResponse:
        request = orchestrator_pb2.StatusRequest(spec=spec)
        with mapped_errors("Status"):
            response: orchestrator_pb2.StatusResponse = await self.orchestrator.Status(
                request, timeout=UNARY_DEADLINE, metadata=self._metadata
            )
        return response

    async def logs(
        self, request: orchestrator_pb2.LogsRequest
    ) -> AsyncIterator[orchestrator_pb2.LogChunk]:
        timeout = None if request.follow else UNARY_DEADLINE
        with mapped_errors("Logs"):
            async for chunk in self.orchestrator.Logs(
                request, timeout=timeout, metadata=self._metadata
            ):
                yield chunk

    async def open_tunnel(
        self, spec: tunnel_pb2.TunnelSpec
    ) -> AsyncIterator[tunnel_pb2.TunnelEvent]:
        with mapped_errors("Tunnels.Open"):
            async for event in self.tunnels.Open(spec, metadata=self._metadata):
                yield event

    async def list_tunnels(self) -> tunnel_pb2.ListTunnelsResponse:
        with mapped_errors("Tunnels.List"):
            response: tunnel_pb2.ListTunnelsResponse = await self.tunnels.List(
                tunnel_pb2.ListTunnelsRequest(), timeout=UNARY_DEADLINE, metadata=self._metadata
            )
        return response

    async def close_tunnel(self, tunnel_id: str, all_: bool = False) -> int:
        request = tunnel_pb2.CloseTunnelRequest(tunnel_id=tunnel_id, all=all_)
        with mapped_errors("Tunnels.Close"):
            response = await self.tunnels.Close(
                request, timeout=UNARY_DEADLINE, metadata=self._metadata
            )
        return int(response.closed)


def _channel(address: str) -> grpc.aio.Channel:
    options: list[tuple[str, Any]] = [("grpc.enable_http_proxy", 0)]
    return grpc.aio.insecure_channel(address, options=options)


@asynccontextmanager
async def connect(
    target: ServerTarget | None = None, services: tuple[str, ...] | None = None
) -> AsyncIterator[MetalabClient]:
    """A client for the configured server, or for servicers embedded in this process.

    Embedded: the servicers (``services``, default all three) are hosted on a private Unix
    socket in a fresh 0700 directory, and the client still speaks gRPC through the generated
    stubs. A command that calls one service names it, and the others are not even imported.
    """
    target = target or resolve_target()
    if target.address:
        client = MetalabClient(_channel(target.address), target.token)
        try:
            yield client
        finally:
            await client.close()
        return
    from metalab._client.embedded import embedded_server, require

    require()
    with tempfile.TemporaryDirectory(prefix="metalab-") as private:
        os.chmod(private, 0o700)
        EMBEDDED_DIRS.add(private)
        try:
            async with embedded_server(f"unix:{private}/metalab.sock", services) as address:
                client = MetalabClient(_channel(address))
                try:
                    yield client
                finally:
                    await client.close()
        finally:
            EMBEDDED_DIRS.discard(private)
