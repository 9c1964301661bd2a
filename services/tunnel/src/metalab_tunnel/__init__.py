"""The metalab tunnel service: self-healing SSH local forwards (``Tunnels`` gRPC servicer)."""

from __future__ import annotations

import grpc
from metalab.v1 import tunnel_pb2_grpc

from metalab_tunnel.foreground import run_foreground
from metalab_tunnel.forwarder import Tunnel, bound_lines
from metalab_tunnel.model import BoundForward, EventKind, TunnelEvent, TunnelSpec
from metalab_tunnel.servicer import TunnelsServicer
from metalab_tunnel.ssh_options import ForwardSpec, SshTarget, ssh_argv

__all__ = [
    "BoundForward",
    "EventKind",
    "ForwardSpec",
    "SshTarget",
    "Tunnel",
    "TunnelEvent",
    "TunnelSpec",
    "TunnelsServicer",
    "add_to_server",
    "bound_lines",
    "run_foreground",
    "ssh_argv",
]


def add_to_server(
    server: grpc.aio.Server, servicer: TunnelsServicer | None = None
) -> TunnelsServicer:
    """Register the Tunnels servicer on ``server``; return it (call ``close_all()`` at shutdown)."""
    servicer = servicer or TunnelsServicer()
    tunnel_pb2_grpc.add_TunnelsServicer_to_server(servicer, server)
    return servicer
