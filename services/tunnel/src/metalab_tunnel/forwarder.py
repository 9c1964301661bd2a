"""``Tunnel``: local listeners plus a supervised SSH route that heals itself.

Lifecycle: ``start()`` binds every local port (a busy port fails at once), connects the configured
mode with asyncssh (falling back to the other mode when the gateway answers but the first mode
cannot reach the service), probes each target, then sets up the data path, emits ESTABLISHED and
starts the supervisor. Data paths: ``asyncssh`` keeps that connection and opens one channel per
local connection; ``openssh`` closes it and hands each local connection to a supervised
``ssh`` ControlMaster (``openssh``), which then carries the bytes. When the route drops, the
listeners stay bound; the supervisor emits RECONNECTING, retries with capped exponential backoff
and emits RESTORED. Connections accepted meanwhile wait for the new route. ``close()`` closes
listeners, relayed connections and SSH connections (and ssh processes), then emits CLOSED.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Iterable

from metalab.core.errors import TunnelError
from metalab.core.ssh_options import LOCAL_HOST, MODES, DataPath, ForwardSpec, TunnelMode
from metalab_tunnel.connector import Route
from metalab_tunnel.failures import SSH_ERRORS, HopFailure
from metalab_tunnel.handover import HandOver
from metalab_tunnel.model import (
    BoundForward,
    EventCallback,
    EventKind,
    TunnelEvent,
    TunnelSpec,
)
from metalab_tunnel.openssh import MasterRoute, ssh_installed
from metalab_tunnel.relay import ChannelSide, LocalSide

log = logging.getLogger(__name__)

AnyRoute = Route | MasterRoute


def _other(mode: TunnelMode) -> TunnelMode:
    return MODES[1] if mode == MODES[0] else MODES[0]


class Tunnel:
    """One tunnel: its forwards, its SSH route and the task that keeps the route alive."""

    def __init__(
        self,
        spec: TunnelSpec,
        on_event: EventCallback | None = None,
        *,
        backoff_initial: float = 0.1,
        backoff_max: float = 2.0,
        backoff_refused: float = 0.5,
        fallback: bool = True,
    ) -> None:
        if not spec.forwards:
            raise TunnelError("nothing to forward: the bundle has no tunnel targets")
        self.spec = spec
        self._on_event = on_event
        self._backoff = (backoff_initial, backoff_max, backoff_refused)
        self._fallback = fallback
        self._listeners: list[socket.socket] = []
        self._servers: list[asyncio.Server] = []
        self._bound: tuple[BoundForward, ...] = ()
        self._active: set[LocalSide] = set()
        self._hand_over: HandOver | None = None  # openssh data path
        self._route: AnyRoute | None = None
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self.mode: TunnelMode = spec.target.mode
        self.data_path: DataPath = spec.target.data_path
        self._path_note = ""
        if self.data_path == "openssh" and not ssh_installed():
            self.data_path = "asyncssh"
            self._path_note = " (ssh is not installed)"
            log.warning("ssh is not installed: using the asyncssh data path")
        self.state = "starting"

    @property
    def forwards(self) -> tuple[BoundForward, ...]:
        return self._bound

    def _emit(self, kind: EventKind, message: str = "") -> None:
        log.info("tunnel %s: %s", kind.value, message)
        if self._on_event is not None:
            self._on_event(TunnelEvent(kind, self._bound, message))

    # -- start ---------------------------------------------------------------------------------

    async def start(self) -> tuple[BoundForward, ...]:
        """Bind, connect, probe; raise TunnelError with one clear line on failure."""
        try:
            await self._bind()
            self._route = await self._establish()
            if self.data_path == "openssh":
                checked, self._route = self._route, None
                await checked.close()
                try:
                    self._route = await MasterRoute.start(
                        self.spec.target, self.mode, self.spec.forwards
                    )
                except HopFailure as exc:
                    raise TunnelError(
                        f"cannot open tunnel (openssh data path): {exc}; "
                        'data_path = "asyncssh" uses the built-in SSH client instead'
                    ) from exc
        except TunnelError as exc:
            self.state = "failed"
            await self._teardown()
            self._emit(EventKind.FAILED, str(exc))
            raise
        except BaseException:  # cancelled while starting: leave no listener or process behind
            self.state = "closed"
            await self._teardown()
            raise
        self._ready.set()
        self.state = "up"
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        note = f" (fell back to {self.mode} mode)" if self.mode != self.spec.target.mode else ""
        self._emit(
            EventKind.ESTABLISHED,
            f"{self.mode} mode{note}, {self.data_path} data path{self._path_note}",
        )
        return self._bound

    async def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        bound: list[BoundForward] = []
        for spec in self.spec.forwards:
            listener = _listen(spec)
            bound.append(BoundForward(spec, int(listener.getsockname()[1])))
            if self.data_path == "openssh":
                self._listeners.append(listener)
                if self._hand_over is None:
                    self._hand_over = HandOver(self._master_route, self._ready, self._closed)
                self._hand_over.serve(listener, spec)
            else:
                self._servers.append(
                    await loop.create_server(
                        lambda spec=spec: LocalSide(  # type: ignore[misc]
                            lambda local: self._serve(local, spec), self._active
                        ),
                        sock=listener,  # the server owns it from here
                    )
                )
        self._bound = tuple(bound)

    def _master_route(self) -> MasterRoute | None:
        return self._route if isinstance(self._route, MasterRoute) else None

    async def _connect(self, mode: TunnelMode) -> AnyRoute:
        if self.data_path == "asyncssh":
            return await self._connect_asyncssh(mode)
        try:
            return await MasterRoute.start(self.spec.target, mode, self.spec.forwards)
        except HopFailure:
            # ssh only says so much: asyncssh names the cause (and whether it is final).
            await (await self._connect_asyncssh(mode)).close()
            raise

    async def _connect_asyncssh(self, mode: TunnelMode) -> Route:
        route = await Route.connect_gateway(mode, self.spec.target)
        try:
            await self._prepare(route)
        except BaseException:
            await route.close()
            raise
        return route

    async def _prepare(self, route: Route) -> None:
        await route.connect_nodes(f.remote_host for f in self.spec.forwards)
        for spec in self.spec.forwards:
            await route.probe(spec.remote_host, spec.remote_port)

    async def _establish(self) -> Route:
        first = self.spec.target.mode
        try:
            route = await Route.connect_gateway(first, self.spec.target)
        except HopFailure as exc:
            raise TunnelError(f"cannot open tunnel: {exc}") from exc
        try:
            await self._prepare(route)
            return route
        except HopFailure as exc:
            first_failure = exc
        if not self._fallback:
            await route.close()
            raise TunnelError(f"cannot open tunnel ({first} mode): {first_failure}")
        second = _other(first)
        route = route.with_mode(second)
        try:
            await self._prepare(route)
        except HopFailure as exc:
            await route.close()
            raise TunnelError(
                f"cannot open tunnel: {first} mode failed: {first_failure}; "
                f"{second} mode failed too: {exc}"
            ) from exc
        self.mode = second
        return route

    # -- supervise -----------------------------------------------------------------------------

    async def _supervise(self) -> None:
        while self._route is not None:
            reason = await self._route.wait_lost()
            self._ready.clear()
            self.state = "reconnecting"
            old, self._route = self._route, None
            await old.close()
            self._emit(EventKind.RECONNECTING, f"reconnecting… ({reason})")
            route = await self._reconnect()
            if route is None:
                return
            self._route = route
            self.state = "up"
            self._ready.set()
            self._emit(EventKind.RESTORED, "restored")

    async def _reconnect(self) -> AnyRoute | None:
        """Retry with capped exponential backoff: capped low while the gateway refuses
        connections (sshd restarting: be back within a second), higher otherwise (an auth
        failure retried fast could get us banned by the gateway)."""
        delay, cap, refused_cap = self._backoff
        while True:
            try:
                return await self._connect(self.mode)
            except HopFailure as exc:
                if not exc.retryable and "host key" in exc.reason:
                    self.state = "failed"
                    self._emit(EventKind.FAILED, f"giving up: {exc}")
                    await self._teardown()
                    return None
                limit = refused_cap if exc.refused else cap
                delay = min(delay, limit)
                log.info("reconnect failed (%s), retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, limit)

    # -- relay ---------------------------------------------------------------------------------

    async def _serve(self, local: LocalSide, spec: ForwardSpec) -> None:
        """Open the channel for one accepted connection; during an outage, wait for the route."""
        while not self._closed.is_set():
            await self._ready.wait()
            route = self._route
            if not isinstance(route, Route) or self._closed.is_set():
                continue
            try:
                await route.open(spec.remote_host, spec.remote_port, lambda: ChannelSide(local))
            except SSH_ERRORS as exc:
                if route.is_closed:
                    while self._route is route and not self._closed.is_set():
                        await asyncio.sleep(0.02)  # the supervisor is replacing it
                    continue
                log.warning("%s: %s", route.describe(spec.remote_host, spec.remote_port), exc)
                local.close()
                return
            return  # ChannelSide.connection_made attached the channel
        local.close()

    # -- close ---------------------------------------------------------------------------------

    async def _teardown(self) -> None:
        self._closed.set()
        self._ready.set()  # wake connections waiting for a route; they see _closed
        for server in self._servers:
            server.close()
        for local in list(self._active):
            local.close()
        if self._hand_over is not None:
            await self._hand_over.close()
        for server in self._servers:
            await server.wait_closed()
        for listener in self._listeners:
            listener.close()
        self._servers, self._listeners = [], []
        if self._route is not None:
            route, self._route = self._route, None
            await route.close()

    async def close(self) -> None:
        """Close listeners, relayed connections and SSH connections; emit CLOSED once."""
        if self.state == "closed":
            return
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        was_failed = self.state == "failed"
        await self._teardown()
        self.state = "closed"
        if not was_failed:
            self._emit(EventKind.CLOSED, "closed")

    async def wait_closed(self) -> None:
        await self._closed.wait()


def _listen(spec: ForwardSpec) -> socket.socket:
    """A non-blocking listening socket on 127.0.0.1; a busy port is a clear TunnelError."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOCAL_HOST, spec.local_port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise TunnelError(
                f"local port {spec.local_port} for {spec.service} is busy: another "
                "process uses it; choose another with --port, or --port 0 for any free one"
            ) from exc
        raise TunnelError(
            f"cannot listen on {LOCAL_HOST}:{spec.local_port}: {exc.strerror}"
        ) from exc
    listener.setblocking(False)
    return listener


def bound_lines(forwards: Iterable[BoundForward]) -> list[str]:
    """``Tunnel established: URL`` per forward, Atlas first (what the CLI prints)."""
    ordered = sorted(forwards, key=lambda f: (f.spec.service != "atlas", f.spec.service))
    return [f"Tunnel established: {f.url}" for f in ordered]
