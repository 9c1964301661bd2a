"""Stores: where runs are recorded. `resolve_store` turns a ``store=`` value into a config."""

from collections.abc import Callable

from metalab._runstore.base import RunRecord, Store, StoreConfig
from metalab._runstore.file import FileStore, FileStoreConfig
from metalab._runstore.locator import parse_locator, resolve_store
from metalab._runstore.pgconfig import PostgresStoreConfig
from metalab.core.redact import redact_locator


def reindex(locator: object, progress: Callable[[str, int], None] | None = None) -> int:
    """Rebuild a PostgresStore's index from its files (imports psycopg only when called)."""
    from metalab._runstore._reindex import reindex as _reindex

    return _reindex(locator, progress)


__all__ = [
    "FileStore",
    "FileStoreConfig",
    "PostgresStoreConfig",
    "RunRecord",
    "Store",
    "StoreConfig",
    "parse_locator",
    "redact_locator",
    "reindex",
    "resolve_store",
]
