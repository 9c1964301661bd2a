"""The run index as a reader opens it (Atlas): where a locator's runs are, and the schema.

`locate` parses a locator string (a path, ``file://…`` or ``postgresql://…?file_root=…``; not
``discover``) into an `IndexLocation`: the PostgreSQL index's libpq URI, if any, and the
directory holding the run files. `ensure_schema` creates or upgrades the PostgreSQL index's
tables on an open psycopg connection. Bad locators raise a one-line `StoreError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class IndexLocation:
    """A store's runs: ``dsn`` (a libpq URI; None for a file store) and ``file_root``."""

    dsn: str | None
    file_root: Path


def locate(locator: str, base_dir: Path | None = None) -> IndexLocation:
    """Where ``locator``'s runs are; relative paths against ``base_dir`` (default: the cwd)."""
    from metalab._runstore.file import FileStoreConfig
    from metalab._runstore.locator import parse_locator
    from metalab._runstore.pgconfig import PostgresStoreConfig

    config = parse_locator(locator, base_dir)
    if isinstance(config, PostgresStoreConfig):
        return IndexLocation(config.dsn, Path(config.file_root))
    assert isinstance(config, FileStoreConfig)  # parse_locator makes no other kind
    return IndexLocation(None, Path(config.root))


def ensure_schema(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create or upgrade the run index's tables over ``conn`` (idempotent)."""
    from metalab._runstore.pgschema import ensure_schema as ensure

    ensure(conn)
