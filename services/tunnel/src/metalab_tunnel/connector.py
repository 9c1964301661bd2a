"""Open the SSH connections of one tunnel mode and open channels to forward targets over them.

jump:    local → gateway → node (an SSH connection to the node inside the gateway connection),
         channel to 127.0.0.1:PORT on the node, like ``ssh -L P:127.0.0.1:PORT -J gw node``.
gateway: local → gateway, channel to node:PORT opened by the gateway, like
         ``ssh -L P:node:PORT gw``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

import asyncssh

from metalab.core.ssh_options import (
    LOCAL_HOST,
    SshTarget,
    TunnelMode,
    accepts_new_host_key,
    gateway_connect_kwargs,
    node_connect_kwargs,
    parse_destination,
)
from metalab_tunnel.failures import SSH_ERRORS, HopFailure, failure
from metalab_tunnel.hostkeys import resolve_unverified, resolved_options

CHANNEL_WINDOW = 8 * 1024 * 1024
CHANNEL_PKTSIZE = 256 * 1024

SessionFactory = Callable[[], asyncssh.SSHTCPSession[bytes]]


class _Watched(asyncssh.SSHClient):
    """Records why a connection ended, for the ``reconnecting`` event."""

    def __init__(self) -> None:
        self.lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(str(exc) if exc else "connection closed")


def _resolve_files(kwargs: dict[str, object]) -> dict[str, object]:
    """Expand ``~`` in keys; missing known_hosts files count as empty, and none as none trusted.

    OpenSSH with ``UserKnownHostsFile none`` trusts no host key; asyncssh would skip the check
    altogether, so that case is pinned to an empty list (unknown key → error or opt-in).
    """
    keys = kwargs.get("client_keys")
    if isinstance(keys, list):
        kwargs = {**kwargs, "client_keys": [str(Path(str(k)).expanduser()) for k in keys]}
    options = resolved_options(kwargs)
    files = options.known_hosts
    if files is None:  # `UserKnownHostsFile none`: asyncssh would verify nothing; ssh trusts none
        return {**kwargs, "known_hosts": b""}
    if isinstance(files, str):
        files = [files]
    if isinstance(files, list | tuple) and all(isinstance(f, str) for f in files):
        existing = [str(Path(f).expanduser()) for f in files if Path(f).expanduser().is_file()]
        kwargs = {**kwargs, "known_hosts": existing or b""}
    return kwargs


async def _connect_hop(
    hop: str,
    kwargs: dict[str, object],
    accept_new: bool,
    tunnel: asyncssh.SSHClientConnection | None = None,
    gateway_level: bool = False,
) -> tuple[asyncssh.SSHClientConnection, _Watched]:
    for attempt in range(2):
        try:
            conn, client = await asyncssh.create_connection(
                _Watched,
                tunnel=tunnel if tunnel is not None else (),
                **cast(dict[str, Any], _resolve_files(kwargs)),
            )
            assert isinstance(client, _Watched)
            return conn, client
        except asyncssh.HostKeyNotVerifiable as exc:
            if attempt:
                raise failure(hop, exc, gateway_level=gateway_level) from exc
            try:
                await resolve_unverified(hop, kwargs, tunnel, accept_new)
            except HopFailure as hop_failure:
                hop_failure.gateway_level = gateway_level
                raise
            except SSH_ERRORS as inner:
                raise failure(hop, inner, gateway_level=gateway_level) from inner
        except SSH_ERRORS as exc:
            raise failure(hop, exc, gateway_level=gateway_level) from exc
    raise AssertionError("unreachable")


def gateway_label(target: SshTarget) -> str:
    endpoint = parse_destination(target.gateway)
    user = endpoint.user or target.user
    return f"gateway {user + '@' if user else ''}{endpoint.host}" + (
        f":{endpoint.port}" if endpoint.port else ""
    )


class Route:
    """The live SSH connection(s) of one mode."""

    def __init__(
        self,
        mode: TunnelMode,
        target: SshTarget,
        gateway: tuple[asyncssh.SSHClientConnection, _Watched],
    ) -> None:
        self.mode = mode
        self.target = target
        self._gateway = gateway
        self._nodes: dict[str, tuple[asyncssh.SSHClientConnection, _Watched]] = {}

    @classmethod
    async def connect_gateway(cls, mode: TunnelMode, target: SshTarget) -> Route:
        hop = gateway_label(target)
        conn = await _connect_hop(
            hop, gateway_connect_kwargs(target), accepts_new_host_key(target), gateway_level=True
        )
        return cls(mode, target, conn)

    def with_mode(self, mode: TunnelMode) -> Route:
        """The same gateway connection used for another mode (nodes are reconnected)."""
        for conn, _ in self._nodes.values():
            conn.close()
        return Route(mode, self.target, self._gateway)

    async def connect_nodes(self, nodes: Iterable[str]) -> None:
        """In jump mode, open the SSH connection to every node through the gateway."""
        if self.mode != "jump":
            return
        for node in sorted(set(nodes)):
            if node in self._nodes:
                continue
            hop = f"{gateway_label(self.target)} → node {node}"
            self._nodes[node] = await _connect_hop(
                hop,
                node_connect_kwargs(self.target, node),
                accepts_new_host_key(self.target),
                tunnel=self._gateway[0],
            )

    def describe(self, host: str, port: int) -> str:
        if self.mode == "jump":
            return f"jump via {gateway_label(self.target)} → {host}, 127.0.0.1:{port} there"
        return f"gateway {gateway_label(self.target)[8:]} → {host}:{port}"

    async def open(
        self, host: str, port: int, factory: SessionFactory
    ) -> asyncssh.SSHTCPChannel[bytes]:
        """Open a channel to ``host:port`` (for jump: to 127.0.0.1:port on node ``host``)."""
        if self.mode == "jump":
            conn, remote_host = self._nodes[host][0], LOCAL_HOST
        else:
            conn, remote_host = self._gateway[0], host
        chan, _ = await conn.create_connection(
            factory,
            remote_host,
            port,
            window=CHANNEL_WINDOW,
            max_pktsize=CHANNEL_PKTSIZE,
        )
        return chan

    async def probe(self, host: str, port: int) -> None:
        """Open and close one channel, so that ESTABLISHED means the target answers."""
        try:
            chan = await self.open(host, port, asyncssh.SSHTCPSession)
        except SSH_ERRORS as exc:
            raise failure(self.describe(host, port), exc) from exc
        chan.close()

    @property
    def is_closed(self) -> bool:
        return any(w.lost.done() for _, w in (self._gateway, *self._nodes.values()))

    async def wait_lost(self) -> str:
        """Wait until any of the connections ends; return why."""
        watchers = [w.lost for _, w in (self._gateway, *self._nodes.values())]
        done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()

    async def close(self) -> None:
        conns = [c for c, _ in (*self._nodes.values(), self._gateway)]
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.wait_closed()
