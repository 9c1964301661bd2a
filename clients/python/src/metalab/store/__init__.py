"""Stores: where run records, artifacts, logs and derived metrics are kept.

`FileStore` keeps everything as files; `PostgresStore` adds a PostgreSQL index to it
(imported on first use, so psycopg loads only when needed). Stores are named by
locators (`create_store`, `parse_to_config`) or configured as data (`StoreConfig`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metalab.store.base import Store
from metalab.store.capabilities import (
    SupportsArtifactOpen,
    SupportsExperimentManifests,
    SupportsLogListing,
    SupportsLogPath,
    SupportsStructuredResults,
    SupportsWorkingDirectory,
)
from metalab.store.config import ConfigRegistry, StoreConfig
from metalab.store.file import FileStore, FileStoreConfig
from metalab.store.layout import FileStoreLayout, safe_experiment_id
from metalab.store.locator import (
    DEFAULT_STORE_ROOT,
    LocatorInfo,
    create_store,
    parse_locator,
    parse_to_config,
)
from metalab.store.transfer import export_store

if TYPE_CHECKING:
    from metalab.store.postgres import PostgresStore, PostgresStoreConfig

__all__ = [
    "DEFAULT_STORE_ROOT",
    "ConfigRegistry",
    "FileStore",
    "FileStoreConfig",
    "FileStoreLayout",
    "LocatorInfo",
    "PostgresStore",
    "PostgresStoreConfig",
    "Store",
    "StoreConfig",
    "SupportsArtifactOpen",
    "SupportsExperimentManifests",
    "SupportsLogListing",
    "SupportsLogPath",
    "SupportsStructuredResults",
    "SupportsWorkingDirectory",
    "create_store",
    "export_store",
    "parse_locator",
    "parse_to_config",
    "safe_experiment_id",
]

_LAZY = {
    "PostgresStore": "metalab.store.postgres",
    "PostgresStoreConfig": "metalab.store.postgres",
    "PostgresIndex": "metalab.store.postgres_index",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
