"""The orchestrator service: provisions the services of an environment through its backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc


def add_to_server(server: grpc.aio.Server) -> Sequence[str]:
    """Register the orchestrator servicer; returns its full service name."""
    from metalab.v1 import orchestrator_pb2, orchestrator_pb2_grpc
    from metalab_orchestrator.local.network import local_network
    from metalab_orchestrator.servicer import OrchestratorServicer

    local_network()  # a bad METALAB_BIND_HOST / METALAB_PORT_RANGE stops the server at once

    orchestrator_pb2_grpc.add_OrchestratorServicer_to_server(OrchestratorServicer(), server)
    return [orchestrator_pb2.DESCRIPTOR.services_by_name["Orchestrator"].full_name]
