"""The orchestrator service: provisions the services of an environment through its backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc

    from metalab_server.server import Registration


def add_to_server(server: grpc.aio.Server) -> Registration:
    """Register the orchestrator servicer; on stop, the server waits for its clean-ups."""
    from metalab.v1 import orchestrator_pb2, orchestrator_pb2_grpc
    from metalab_orchestrator.lifecycle import Lifecycle
    from metalab_orchestrator.registry_port import registry_port
    from metalab_orchestrator.runtime.network import local_network
    from metalab_orchestrator.servicer import OrchestratorServicer
    from metalab_server.server import Registration

    local_network()  # a bad METALAB_BIND_HOST / METALAB_PORT_RANGE stops the server at once

    servicer = OrchestratorServicer(Lifecycle(registry_port()))
    orchestrator_pb2_grpc.add_OrchestratorServicer_to_server(servicer, server)
    name = orchestrator_pb2.DESCRIPTOR.services_by_name["Orchestrator"].full_name
    return Registration([name], on_stop=servicer.drain)
