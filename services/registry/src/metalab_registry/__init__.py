"""The bundle registry service.

Light to import: gRPC is loaded by `add_to_server` and the servicer only, so the store alone
(`metalab_registry.store`, used by the CLI's fast `services down`) costs no gRPC import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import grpc

    from metalab_registry.servicer import RegistryServicer
    from metalab_registry.store import BundleKey, BundleStore

__all__ = ["BundleKey", "BundleStore", "RegistryServicer", "add_to_server"]


def add_to_server(server: grpc.aio.Server) -> Sequence[str]:
    """Register the registry servicer; returns its full service name."""
    from metalab.v1 import registry_pb2, registry_pb2_grpc
    from metalab_registry.servicer import RegistryServicer

    registry_pb2_grpc.add_RegistryServicer_to_server(RegistryServicer(), server)
    return [registry_pb2.DESCRIPTOR.services_by_name["Registry"].full_name]


def __getattr__(name: str) -> Any:
    """`BundleKey`, `BundleStore` and `RegistryServicer`, imported on first use."""
    if name in ("BundleKey", "BundleStore"):
        from metalab_registry import store

        return getattr(store, name)
    if name == "RegistryServicer":
        from metalab_registry.servicer import RegistryServicer

        return RegistryServicer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
