"""The metalab tunnel service: self-healing SSH local forwards (``Tunnels`` gRPC servicer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from metalab.core import asyncssh_warnings
from metalab.v1 import tunnel_pb2, tunnel_pb2_grpc

asyncssh_warnings.quiet()  # before any of this package's modules imports asyncssh

if TYPE_CHECKING:  # the lazy exports below, typed for mypy and editors
    from metalab.core.ssh_options import ForwardSpec as ForwardSpec
    from metalab.core.ssh_options import SshTarget as SshTarget
    from metalab.core.ssh_options import ssh_argv as ssh_argv
    from metalab_server.server import Registration
    from metalab_tunnel.foreground import run_foreground as run_foreground
    from metalab_tunnel.forwarder import Tunnel as Tunnel
    from metalab_tunnel.forwarder import bound_lines as bound_lines
    from metalab_tunnel.model import BoundForward as BoundForward
    from metalab_tunnel.model import EventKind as EventKind
    from metalab_tunnel.model import TunnelEvent as TunnelEvent
    from metalab_tunnel.model import TunnelSpec as TunnelSpec
    from metalab_tunnel.servicer import TunnelsServicer as TunnelsServicer

# Public names, imported on first use so that hosting the servicer stays cheap (asyncssh loads
# only when a tunnel is opened).
_EXPORTS = {
    "run_foreground": "metalab_tunnel.foreground",
    "Tunnel": "metalab_tunnel.forwarder",
    "bound_lines": "metalab_tunnel.forwarder",
    "BoundForward": "metalab_tunnel.model",
    "EventKind": "metalab_tunnel.model",
    "TunnelEvent": "metalab_tunnel.model",
    "TunnelSpec": "metalab_tunnel.model",
    "TunnelsServicer": "metalab_tunnel.servicer",
    "ForwardSpec": "metalab.core.ssh_options",
    "SshTarget": "metalab.core.ssh_options",
    "ssh_argv": "metalab.core.ssh_options",
}
__all__ = [*_EXPORTS, "add_to_server"]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'metalab_tunnel' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)


def add_to_server(server: grpc.aio.Server, servicer: TunnelsServicer | None = None) -> Registration:
    """Register the Tunnels servicer; its tunnels close when the server stops."""
    from metalab_server.server import Registration
    from metalab_tunnel.servicer import TunnelsServicer

    servicer = servicer or TunnelsServicer()
    tunnel_pb2_grpc.add_TunnelsServicer_to_server(servicer, server)
    name = tunnel_pb2.DESCRIPTOR.services_by_name["Tunnels"].full_name
    return Registration([name], servicer.close_all)
