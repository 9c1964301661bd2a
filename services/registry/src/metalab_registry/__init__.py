"""The bundle registry service."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from metalab.v1 import registry_pb2, registry_pb2_grpc
from metalab_registry.servicer import RegistryServicer
from metalab_registry.store import BundleKey, BundleStore

__all__ = ["BundleKey", "BundleStore", "RegistryServicer", "add_to_server"]


def add_to_server(server: grpc.aio.Server) -> Sequence[str]:
    """Register the registry servicer; returns its full service name."""
    registry_pb2_grpc.add_RegistryServicer_to_server(RegistryServicer(), server)
    return [registry_pb2.DESCRIPTOR.services_by_name["Registry"].full_name]
