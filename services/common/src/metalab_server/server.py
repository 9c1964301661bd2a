"""Build a grpc.aio server hosting any subset of metalab's services, with the shared wiring."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import IO

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from metalab.errors import ConfigError
from metalab_server.address import (
    check_listen,
    lock_unix_path,
    private_bind,
    require_token_for_tcp,
)
from metalab_server.auth import TokenAuthInterceptor
from metalab_server.deadline import DeadlineInterceptor
from metalab_server.details import SummarizeErrors

# name → "module:function"; the function registers the servicer and returns its full names.
SERVICE_PLUGINS = {
    "registry": "metalab_registry:add_to_server",
    "orchestrator": "metalab_orchestrator:add_to_server",
    "tunnel": "metalab_tunnel:add_to_server",
}
ALL_SERVICES = tuple(SERVICE_PLUGINS)

# What any caller, authenticated or not, can make the server hold. Every request is small (a
# bundle is at most 1 MiB as JSON), so 2 MiB per message, and at most 100 calls at once (more
# are refused with RESOURCE_EXHAUSTED): the request bytes held at any time stay under 200 MiB
# (16 MiB messages were accepted before). The receive window stays at 64 KiB per
# stream (no bandwidth-probing growth), so a sender is held back until its call is read.
MAX_MESSAGE = 2 << 20
MAX_CONCURRENT_RPCS = 100
SERVER_OPTIONS = [
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.http2.bdp_probe", 0),
    ("grpc.max_metadata_size", 16 << 10),
]


@dataclass(frozen=True)
class Registration:
    """What a service plugin registered: its full service names and an optional stop hook."""

    names: Sequence[str]
    on_stop: Callable[[], Awaitable[None]] | None = None


AddToServer = Callable[[grpc.aio.Server], "Sequence[str] | Registration"]


@dataclass
class RunningServer:
    """A started server, its bound address and what must be released on stop."""

    server: grpc.aio.Server
    address: str
    health: HealthServicer
    service_names: list[str]
    _lock: IO[bytes] | None = field(default=None, repr=False)
    _on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)

    async def stop(self, grace: float = 1.0) -> None:
        """Report NOT_SERVING, let in-flight calls finish for ``grace`` seconds, then stop."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for hook in self._on_stop:
            await hook()
        if self._lock is not None:
            self._lock.close()


def load_plugin(name: str) -> AddToServer:
    try:
        target = SERVICE_PLUGINS[name]
    except KeyError:
        known = ", ".join(ALL_SERVICES)
        raise ConfigError(f"unknown service {name!r} (known: {known})", key="--services") from None
    module_name, _, attr = target.partition(":")
    function: AddToServer = getattr(import_module(module_name), attr)
    return function


async def start_server(
    services: Sequence[str], address: str, token: str | None = None
) -> RunningServer:
    """Start a server for ``services`` on ``address`` (``host:port`` or ``unix:path``).

    Every server serves grpc.health.v1 and reflection, applies deadlines, and checks the
    bearer token when one is given. TCP requires a token, loopback included; a ``unix:``
    socket is created 0600, so only this account connects. Port 0 binds a free port; the
    returned address has it.
    """
    check_listen(address, token)
    require_token_for_tcp(address, token)
    lock = lock_unix_path(address)
    interceptors: list[grpc.aio.ServerInterceptor] = [DeadlineInterceptor(), SummarizeErrors()]
    if token:
        interceptors.insert(0, TokenAuthInterceptor(token))
    server = grpc.aio.server(
        interceptors=interceptors,
        options=SERVER_OPTIONS,
        maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
    )
    names: list[str] = []
    hooks: list[Callable[[], Awaitable[None]]] = []
    for name in services:
        registered = load_plugin(name)(server)
        if isinstance(registered, Registration):
            names.extend(registered.names)
            if registered.on_stop is not None:
                hooks.append(registered.on_stop)
        else:
            names.extend(registered)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    service_names = [*names, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(service_names, server)
    try:
        with private_bind(address):
            port = server.add_insecure_port(address)
    except RuntimeError as exc:
        if lock is not None:
            lock.close()
        raise ConfigError(f"cannot listen on {address}: {exc}", key="--listen") from exc
    bound = address if address.startswith("unix:") else _with_port(address, port)
    await server.start()
    for full_name in [*names, ""]:
        await health_servicer.set(full_name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server, bound, health_servicer, names, lock, hooks)


def _with_port(address: str, port: int) -> str:
    host = address.rsplit(":", 1)[0]
    return f"{host}:{port}"


async def serve_until_signalled(
    running: RunningServer, grace: float = 1.0, on_ready: Callable[[], None] | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully (a second signal exits now).

    ``on_ready`` runs once the signal handlers are in place (e.g. to print a banner).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if on_ready is not None:
        on_ready()
    await stop.wait()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _exit_now)
    await running.stop(grace)


def _exit_now() -> None:
    raise SystemExit(130)
