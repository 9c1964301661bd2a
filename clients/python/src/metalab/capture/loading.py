"""Reading a stored artifact back into an object (the inverse of ``Capture.artifact``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metalab.capture.registry import Serializer, SerializerRegistry
from metalab.store.capabilities import SupportsArtifactOpen
from metalab.types import ArtifactDescriptor

if TYPE_CHECKING:
    from metalab.store.base import Store

_FILE_SCHEME = "file://"


def load_artifact(store: Store, descriptor: ArtifactDescriptor) -> Any:
    """The object stored as ``descriptor``.

    Artifacts of a kind with a default serializer (json, numpy) are deserialized; others
    (files, images, pickles, custom kinds) come back as raw bytes. Plain paths and
    ``file://`` URIs are read in place; other URIs through the store.
    """
    serializer = SerializerRegistry().get(descriptor.kind)
    if serializer is None:
        return store.get_artifact(descriptor.uri)
    uri = descriptor.uri
    if uri.startswith(_FILE_SCHEME):
        return serializer.load(Path(uri[len(_FILE_SCHEME) :]))
    if "://" not in uri:
        return serializer.load(Path(uri))
    if isinstance(store, SupportsArtifactOpen):
        with store.open_artifact(uri) as fh:
            payload = fh.read()
    else:
        payload = store.get_artifact(uri)
    return _load_bytes(serializer, payload, descriptor.format)


def _load_bytes(serializer: Serializer, payload: bytes, fmt: str) -> Any:
    suffix = f".{fmt}" if fmt else ""
    fd, name = tempfile.mkstemp(suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        return serializer.load(path)
    finally:
        path.unlink(missing_ok=True)
