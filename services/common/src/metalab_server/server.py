"""Build a grpc.aio server hosting any subset of metalab's services, with the shared wiring."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import IO, cast

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from metalab.core.errors import ConfigError
from metalab_server.address import (
    check_listen,
    lock_unix_path,
    private_bind,
    require_token_for_tcp,
)
from metalab_server.auth import TokenAuthInterceptor
from metalab_server.deadline import DeadlineInterceptor
from metalab_server.details import SummarizeErrors
from metalab_server.relay import PeerRelay

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
# Behind the relay: ping the client of an open call every minute, so a call that waits long
# (a Watch) is never taken for an idle connection, and a peer that stopped answering is dropped.
RELAYED_OPTIONS = [
    *SERVER_OPTIONS,
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.http2.max_pings_without_data", 0),
]


@dataclass(frozen=True)
class Registration:
    """What a service plugin registered: its full service names and an optional stop hook."""

    names: Sequence[str]
    on_stop: Callable[[], Awaitable[None]] | None = None


AddToServer = Callable[[grpc.aio.Server], "Sequence[str] | Registration"]


@dataclass
class RunningServer:
    """A started server, its bound address and what must be released on stop.

    Behind a `PeerRelay` there are two gRPC servers sharing the servicers (``server`` for the
    owner's connections, ``others`` with the token check) in a private directory.
    """

    server: grpc.aio.Server
    address: str
    health: HealthServicer
    service_names: list[str]
    _lock: IO[bytes] | None = field(default=None, repr=False)
    _on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list, repr=False)
    others: grpc.aio.Server | None = None
    relay: PeerRelay | None = None
    _private: str | None = field(default=None, repr=False)

    async def stop(self, grace: float = 1.0) -> None:
        """Report NOT_SERVING, let in-flight calls finish for ``grace`` seconds, then stop."""
        await self.health.enter_graceful_shutdown()
        if self.relay is not None:
            await self.relay.stop_accepting()
        stops = [self.server.stop(grace)]
        if self.others is not None:
            stops.append(self.others.stop(grace))
        await asyncio.gather(*stops)
        if self.relay is not None:
            await self.relay.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.relay.public)
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
        for hook in self._on_stop:
            await hook()
        if self._lock is not None:
            self._lock.close()


class _Both:
    """Registers every handler on several servers, so that they share one servicer each.

    The service plugins and grpc's generated ``add_*_to_server`` functions only call these
    two methods of the server they are given."""

    def __init__(self, *servers: grpc.aio.Server) -> None:
        self._servers = servers

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        for server in self._servers:
            server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        for server in self._servers:
            server.add_registered_method_handlers(service, handlers)


def load_plugin(name: str) -> AddToServer:
    try:
        target = SERVICE_PLUGINS[name]
    except KeyError:
        known = ", ".join(ALL_SERVICES)
        raise ConfigError(f"unknown service {name!r} (known: {known})", key="--services") from None
    module_name, _, attr = target.partition(":")
    function: AddToServer = getattr(import_module(module_name), attr)
    return function


def _grpc_server(token: str | None, options: list[tuple[str, int]]) -> grpc.aio.Server:
    interceptors: list[grpc.aio.ServerInterceptor] = [DeadlineInterceptor(), SummarizeErrors()]
    if token:
        interceptors.insert(0, TokenAuthInterceptor(token))
    return grpc.aio.server(
        interceptors=interceptors, options=options, maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS
    )


class _Services:
    """The services registered on one or more servers: names, stop hooks, health."""

    def __init__(self, services: Sequence[str], *servers: grpc.aio.Server) -> None:
        registrar = servers[0] if len(servers) == 1 else cast("grpc.aio.Server", _Both(*servers))
        self.names: list[str] = []
        self.hooks: list[Callable[[], Awaitable[None]]] = []
        for name in services:
            registered = load_plugin(name)(registrar)
            if isinstance(registered, Registration):
                self.names.extend(registered.names)
                if registered.on_stop is not None:
                    self.hooks.append(registered.on_stop)
            else:
                self.names.extend(registered)
        self.health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, registrar)
        full = [*self.names, health.SERVICE_NAME, reflection.SERVICE_NAME]
        for server in servers:
            reflection.enable_server_reflection(full, server)

    async def serving(self) -> None:
        for full_name in [*self.names, ""]:
            await self.health.set(full_name, health_pb2.HealthCheckResponse.SERVING)


def _bind(server: grpc.aio.Server, address: str, lock: IO[bytes] | None) -> int:
    try:
        with private_bind(address):
            return int(server.add_insecure_port(address))
    except RuntimeError as exc:
        if lock is not None:
            lock.close()
        raise ConfigError(f"cannot listen on {address}: {exc}", key="--listen") from exc


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
    server = _grpc_server(token, SERVER_OPTIONS)
    hosted = _Services(services, server)
    port = _bind(server, address, lock)
    bound = address if address.startswith("unix:") else _with_port(address, port)
    await server.start()
    await hosted.serving()
    return RunningServer(server, bound, hosted.health, hosted.names, lock, hosted.hooks)


async def start_relayed_server(
    services: Sequence[str], address: str, token: str | None = None
) -> RunningServer:
    """Serve ``services`` on the ``unix:`` socket ``address`` through a `PeerRelay`: callers
    of this account need no token, every other account needs ``token`` (without one, other
    accounts reach only ``Health/Check``). The socket is 0666; where the owner places it
    decides which accounts can reach it at all (the default directory is 0700)."""
    if not address.startswith("unix:"):
        raise ValueError(f"the peer-credential relay needs a unix: address, not {address!r}")
    path = address.removeprefix("unix:")
    lock = lock_unix_path(address)
    private = tempfile.mkdtemp(prefix="metalab-server-")  # 0700: this account's only
    owner = _grpc_server(None, RELAYED_OPTIONS)
    others = _grpc_server(token or secrets.token_urlsafe(32), RELAYED_OPTIONS)
    try:
        hosted = _Services(services, owner, others)
        inner = (f"{private}/owner.sock", f"{private}/others.sock")
        _bind(owner, f"unix:{inner[0]}", None)
        _bind(others, f"unix:{inner[1]}", None)
        await owner.start()
        await others.start()
        relay = PeerRelay(path, *inner)
        try:
            await relay.start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {address}: {exc}", key="--listen") from exc
    except BaseException:
        await asyncio.gather(owner.stop(0), others.stop(0))
        shutil.rmtree(private, ignore_errors=True)
        if lock is not None:
            lock.close()
        raise
    await hosted.serving()
    return RunningServer(
        owner, address, hosted.health, hosted.names, lock, hosted.hooks, others, relay, private
    )


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
