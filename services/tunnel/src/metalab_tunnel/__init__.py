"""The metalab tunnel service: self-healing SSH local forwards (``Tunnels`` gRPC servicer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from metalab.v1 import tunnel_pb2, tunnel_pb2_grpc

if TYPE_CHECKING:
    from metalab_server.server import Registration
    from metalab_tunnel.servicer import TunnelsServicer


def add_to_server(
    server: grpc.aio.Server, servicer: TunnelsServicer | None = None
) -> Registration:
    """Register the Tunnels servicer; its tunnels close when the server stops."""
    from metalab_server.server import Registration
    from metalab_tunnel.servicer import TunnelsServicer

    servicer = servicer or TunnelsServicer()
    tunnel_pb2_grpc.add_TunnelsServicer_to_server(servicer, server)
    name = tunnel_pb2.DESCRIPTOR.services_by_name["Tunnels"].full_name
    return Registration([name], servicer.close_all)
