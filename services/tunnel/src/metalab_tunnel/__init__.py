"""The tunnel service (SSH forwards to services on remote hosts)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from metalab.v1 import tunnel_pb2, tunnel_pb2_grpc


def add_to_server(server: grpc.aio.Server) -> Sequence[str]:
    """Register the tunnel servicer; returns its full service name."""
    tunnel_pb2_grpc.add_TunnelsServicer_to_server(tunnel_pb2_grpc.TunnelsServicer(), server)
    return [tunnel_pb2.DESCRIPTOR.services_by_name["Tunnels"].full_name]
