"""How the orchestrator reaches the registry: in-process, or over gRPC when deployed apart."""

from __future__ import annotations

import os
from typing import Any, Protocol

from metalab_orchestrator.backends.base import Bundle
from metalab_registry.store import BundleKey, BundleStore


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

    async def _call(self, method: str, *args: Any) -> Any:
        from metalab._client.client import connect
        from metalab._client.target import ServerTarget

        async with connect(ServerTarget(self._address, self._token)) as client:
            return await getattr(client, method)(*args)

    async def get(self, key: BundleKey) -> Bundle | None:
        from metalab.errors import BundleNotFound
        from metalab.v1 import types_pb2
        from metalab_registry.convert import to_dict

        message = types_pb2.BundleKey(
            project=key.project, environment=key.environment, file_root=key.file_root
        )
        try:
            return to_dict(await self._call("get_bundle", message))
        except BundleNotFound:
            return None

    async def put(self, key: BundleKey, bundle: Bundle) -> None:
        from metalab_registry.convert import to_message

        await self._call("put_bundle", to_message(bundle))

    async def delete(self, key: BundleKey) -> bool:
        from metalab.v1 import types_pb2

        message = types_pb2.BundleKey(
            project=key.project, environment=key.environment, file_root=key.file_root
        )
        return bool(await self._call("delete_bundle", message))


def registry_port() -> RegistryPort:
    """``METALAB_REGISTRY_ADDRESS`` set: the remote registry; else the in-process store."""
    address = os.environ.get("METALAB_REGISTRY_ADDRESS")
    if address:
        from metalab._client.target import server_token

        return RemoteRegistry(address, server_token())
    return LocalRegistry()
