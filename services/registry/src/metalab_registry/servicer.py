"""Registry servicer: translates messages to BundleStore calls and back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from metalab.core.bundle.files import check_identity, parse_bundle, read_bundle_bytes
from metalab.core.bundle.model import BundleModel
from metalab.core.convert import to_dict, to_message
from metalab.core.errors import BundleError, BundleNotFound, ConfigError
from metalab.core.status import abort
from metalab.v1 import registry_pb2, registry_pb2_grpc, types_pb2
from metalab_registry.cache import StatCache
from metalab_registry.store import BundleKey, BundleStore
from metalab_registry.writer import GroupWriter, NonceMismatch, Operation
from metalab_server.details import summarize

WATCH_INTERVAL = 0.2


def _key(message: types_pb2.BundleKey) -> BundleKey:
    return BundleKey(message.project, message.environment, message.file_root)


def _message(path: Path, raw: bytes) -> types_pb2.Bundle:
    return to_message(parse_bundle(path, raw), str(path))


class RegistryServicer(registry_pb2_grpc.RegistryServicer):
    """Writes go through a group-commit writer; reads are served from a stat-checked cache."""

    def __init__(self, store: BundleStore | None = None) -> None:
        self._store = store or BundleStore()
        self._writer = GroupWriter()
        self._messages: StatCache[types_pb2.Bundle] = StatCache(read_bundle_bytes)

    async def PutBundle(
        self, request: registry_pb2.PutBundleRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.Bundle:
        bundle = request.bundle
        key = BundleKey(bundle.project, bundle.environment, bundle.file_root)
        if not key.project or not key.environment:
            problem = "bundle needs project and environment"
            await abort(context, ConfigError(problem), problem)
        try:
            data = to_dict(bundle)
            BundleModel.from_dict(data)  # the same checks a reader applies
            path = key.path  # names are checked before they become path components
        except (BundleError, ConfigError) as exc:  # a malformed request, not a corrupt file
            await abort(context, ConfigError(str(exc)), summarize(str(exc)))
        try:
            await self._writer.apply(path, Operation(data, request.expected_nonce))
        except NonceMismatch as exc:
            await abort(context, exc, summarize(str(exc)))
        result = types_pb2.Bundle()
        result.CopyFrom(bundle)
        result.path = str(key.path)
        return result

    async def GetBundle(
        self, request: types_pb2.BundleKey, context: grpc.aio.ServicerContext
    ) -> types_pb2.Bundle:
        key = _key(request)
        try:
            path = key.path
            message = self._messages.get(path, lambda raw: _message(path, raw))
            if message is not None:  # checked on every call: one file_root, many keys
                found = {"project": message.project, "environment": message.environment}
                check_identity(path, found, key.project, key.environment)
        except (ConfigError, BundleError) as exc:
            await abort(context, exc, summarize(str(exc)))
        if message is None:
            await abort(context, BundleNotFound(f"no bundle at {path}"), f"no bundle at {path}")
        return message

    async def ListBundles(
        self, request: registry_pb2.ListBundlesRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.ListBundlesResponse:
        found = self._store.list(list(request.roots), request.project)
        return registry_pb2.ListBundlesResponse(
            bundles=[to_message(bundle, str(path)) for path, bundle in found]
        )

    async def DeleteBundle(
        self, request: registry_pb2.DeleteBundleRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.DeleteBundleResponse:
        try:
            deleted = await self._writer.apply(
                _key(request.key).path, Operation(None, request.expected_nonce)
            )
        except (ConfigError, NonceMismatch) as exc:
            await abort(context, exc, summarize(str(exc)))
        return registry_pb2.DeleteBundleResponse(deleted=deleted)

    async def WatchBundle(
        self, request: types_pb2.BundleKey, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[registry_pb2.BundleEvent]:
        key = _key(request)
        try:
            key.path  # noqa: B018 - validates the names before any file is touched
        except ConfigError as exc:
            await abort(context, exc, summarize(str(exc)))
        last: object = None
        while True:
            try:
                stat = key.path.stat()
                marker: object = (stat.st_mtime_ns, stat.st_ino)
            except FileNotFoundError:
                marker = None
            if marker != last:
                if marker is None:
                    if last is not None:
                        yield registry_pb2.BundleEvent(kind=registry_pb2.BundleEvent.DELETED)
                else:
                    try:
                        bundle = self._store.get(key)
                    except BundleError as exc:
                        await abort(context, exc, summarize(str(exc)))
                    if bundle is not None:
                        yield registry_pb2.BundleEvent(
                            kind=registry_pb2.BundleEvent.PUT, bundle=to_message(bundle)
                        )
                last = marker
            await asyncio.sleep(WATCH_INTERVAL)

    async def Discover(
        self, request: registry_pb2.DiscoverRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.DiscoverResponse:
        try:
            found = self._store.discover(request.start_dir, request.project, request.environment)
        except (BundleNotFound, BundleError) as exc:
            await abort(context, exc, summarize(str(exc)))
        return registry_pb2.DiscoverResponse(
            store_locator=found.store_locator,
            bundle_path=str(found.path),
            bundle=to_message(found.bundle, str(found.path)),
        )
