"""How the orchestrator reaches the registry: in-process, or over gRPC when deployed apart."""

from __future__ import annotations

import os
from typing import Any, Protocol

from metalab.core.bundle import Bundle
from metalab_registry.store import BundleKey, BundleStore

CALL_DEADLINE = 30.0


class RegistryPort(Protocol):
    async def get(self, key: BundleKey) -> Bundle | None: ...
    async def put(self, key: BundleKey, bundle: Bundle) -> None: ...
    async def delete(self, key: BundleKey) -> bool: ...


class LocalRegistry:
    """The registry's BundleStore in this process (embedded mode, or one server process)."""

    def __init__(self, store: BundleStore | None = None) -> None:
        self._store = store or BundleStore()

    async def get(self, key: BundleKey) -> Bundle | None:
        return self._store.get(key)

    async def put(self, key: BundleKey, bundle: Bundle) -> None:
        self._store.put(key, bundle)

    async def delete(self, key: BundleKey) -> bool:
        return self._store.delete(key)


class RemoteRegistry:
    """The registry service at ``address`` (e.g. its own container)."""

    def __init__(self, address: str, token: str | None) -> None:
        self._address = address
        self._token = token

    async def _call(self, method: str, request: Any) -> Any:
        import grpc

        from metalab.core.status import mapped_errors
        from metalab.v1 import registry_pb2_grpc

        metadata = (("authorization", f"Bearer {self._token}"),) if self._token else ()
        options = [("grpc.enable_http_proxy", 0)]
        async with grpc.aio.insecure_channel(self._address, options=options) as channel:
            stub = registry_pb2_grpc.RegistryStub(channel)
            with mapped_errors(method):
                return await getattr(stub, method)(
                    request, timeout=CALL_DEADLINE, metadata=metadata
                )

    async def get(self, key: BundleKey) -> Bundle | None:
        from metalab.core.convert import to_dict
        from metalab.core.errors import BundleNotFound
        from metalab.v1 import types_pb2

        message = types_pb2.BundleKey(
            project=key.project, environment=key.environment, file_root=key.file_root
        )
        try:
            return to_dict(await self._call("GetBundle", message))
        except BundleNotFound:
            return None

    async def put(self, key: BundleKey, bundle: Bundle) -> None:
        from metalab.core.convert import to_message
        from metalab.v1 import registry_pb2

        await self._call("PutBundle", registry_pb2.PutBundleRequest(bundle=to_message(bundle)))

    async def delete(self, key: BundleKey) -> bool:
        from metalab.v1 import registry_pb2, types_pb2

        message = types_pb2.BundleKey(
            project=key.project, environment=key.environment, file_root=key.file_root
        )
        request = registry_pb2.DeleteBundleRequest(key=message)
        return bool((await self._call("DeleteBundle", request)).deleted)


def registry_port() -> RegistryPort:
    """``METALAB_REGISTRY_ADDRESS`` set: the remote registry; else the in-process store."""
    address = os.environ.get("METALAB_REGISTRY_ADDRESS")
    if address:
        from metalab.core.token import env_token

        return RemoteRegistry(address, env_token())
    return LocalRegistry()
