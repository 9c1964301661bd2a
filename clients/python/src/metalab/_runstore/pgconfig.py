"""`PostgresStoreConfig`: plain data, importable without psycopg."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metalab._runstore.postgres import PostgresStore


@dataclass(frozen=True)
class PostgresStoreConfig:
    """Records indexed in PostgreSQL at ``dsn``; run files (logs, artifacts) under ``file_root``.

    ``dsn`` is a libpq URI; it may carry ``passfile=`` (libpq reads it) or a password, which
    `describe()` and ``repr`` never show.
    """

    dsn: str
    file_root: str
    kind: str = "postgres"

    def open(self) -> PostgresStore:
        from metalab._runstore.postgres import PostgresStore

        return PostgresStore(self)

    def describe(self) -> str:
        from metalab.core.redact import redact_locator

        return f"PostgresStore {redact_locator(self.dsn)} (file_root={self.file_root})"

    def __repr__(self) -> str:
        return f"PostgresStoreConfig({self.describe()!r})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "postgres", "dsn": self.dsn, "file_root": self.file_root}
