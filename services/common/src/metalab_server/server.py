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
    owner_only_dir,
    private_bind,
    require_token_for_tcp,
)
from metalab_server.auth import TokenAuthInterceptor
from metalab_server.deadline import DeadlineInterceptor
from metalab_server.details import SummarizeErrors
from metalab_server.held import HeldBytesInterceptor
from metalab_server.relay import IDLE_TIMEOUT, PeerRelay

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
KEEPALIVE_MS = 60_000  # behind the relay: a ping a minute on every open call (`_pings`)


@dataclass(frozen=True)
class Registration:
    """What a service plugin registered: its full service names and an optional stop hook."""

    names: Sequence[str]
    on_stop: Callable[[], Awaitable[None]] | None = None


AddToServer = Callable[[grpc.aio.Server], "Sequence[str] | Registration"]


@dataclass
class RunningServer:
    """A started server, its bound address and what must be released on stop.

    With a shared socket there are two gRPC servers sharing the servicers: ``server`` on the
    owner's socket, ``others`` with the token check in a private directory, behind a
    `PeerRelay` on the shared socket.
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
    _locks: list[IO[bytes]] = field(default_factory=list, repr=False)
    _directory: int | None = field(default=None, repr=False)  # the owner socket's, pinned

    async def stop(self, grace: float = 1.0) -> None:
        """Report NOT_SERVING, let in-flight calls finish for ``grace`` seconds, then stop."""
        await self.health.enter_graceful_shutdown()
        if self.relay is not None:
            await self.relay.stop_accepting()
        stops = [self.server.stop(grace)]
        if self.others is not None:
            stops.append(self.others.stop(grace))
        await asyncio.gather(*stops)
        if self._directory is not None:
            os.close(self._directory)
            self._directory = None
        if self.relay is not None:
            await self.relay.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.relay.public)
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
        for hook in self._on_stop:
            await hook()
        for lock in [self._lock, *self._locks]:
            if lock is not None:
                lock.close()


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
    if token:  # every caller is another account's, or holds the token like one
        interceptors[:0] = [TokenAuthInterceptor(token), HeldBytesInterceptor()]
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


async def start_owner_server(
    services: Sequence[str],
    address: str,
    shared: str | None = None,
    token: str | None = None,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    keepalive_ms: int = KEEPALIVE_MS,
) -> RunningServer:
    """Serve ``services`` to this account on the ``unix:`` socket ``address``, directly: no
    token, no relay. Its directory must be this account's and 0700 (`owner_only_dir`), so the
    kernel refuses every other account at ``connect()``.

    With ``shared`` (another ``unix:`` path), a `PeerRelay` listens there too for the accounts
    the owner lets reach it: a peer of this uid is relayed to ``address``, any other to a second
    gRPC server that requires ``token`` (without one, other accounts reach only
    ``Health/Check``). Both servers share the servicers. ``idle_timeout`` and ``keepalive_ms``
    are the relay's idle bound and the servers' ping interval for open calls.
    """
    for where in (address, shared):
        if where is not None and not where.startswith("unix:"):
            raise ConfigError(f"expected unix:PATH, got {where!r}", key="--listen")
    locks: list[IO[bytes]] = []
    servers: list[grpc.aio.Server] = []
    private: str | None = None
    directory, bind_address = owner_only_dir(address)
    try:
        locks.append(_locked(address))
        options = [*SERVER_OPTIONS, *_pings(keepalive_ms)] if shared else SERVER_OPTIONS
        servers.append(_grpc_server(None, options))
        if shared is not None:
            locks.append(_locked(shared))
            servers.append(_grpc_server(token or secrets.token_urlsafe(32), options))
        hosted = _Services(services, *servers)
        _bind(servers[0], bind_address, None)
        relay = None
        if shared is not None:
            private = tempfile.mkdtemp(prefix="metalab-server-")  # 0700: this account's only
            others = f"{private}/others.sock"
            _bind(servers[1], f"unix:{others}", None)
        for server in servers:
            await server.start()
        if shared is not None:
            relay = PeerRelay(
                shared.removeprefix("unix:"),
                address.removeprefix("unix:"),
                others,
                idle_timeout=idle_timeout,
            )
            try:
                await relay.start()
            except OSError as exc:
                message = f"cannot listen on {shared}: {exc}"
                raise ConfigError(message, key="--shared-socket") from exc
    except BaseException:
        await asyncio.gather(*(server.stop(0) for server in servers))
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
        for lock in locks:
            lock.close()
        os.close(directory)
        raise
    await hosted.serving()
    return RunningServer(
        servers[0],
        address,
        hosted.health,
        hosted.names,
        locks[0],
        hosted.hooks,
        servers[1] if shared else None,
        relay,
        private,
        locks[1:],
        directory,
    )


def _locked(address: str) -> IO[bytes]:
    lock = lock_unix_path(address)
    assert lock is not None  # a unix: address
    return lock


def _pings(keepalive_ms: int) -> list[tuple[str, int]]:
    """Ping the client of an open call every ``keepalive_ms``: a call that waits long (a Watch)
    never looks idle to the relay, and a peer that stopped answering is dropped."""
    return [("grpc.keepalive_time_ms", keepalive_ms), ("grpc.http2.max_pings_without_data", 0)]


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
