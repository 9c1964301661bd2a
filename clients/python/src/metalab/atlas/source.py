"""Where Atlas reads runs from: a FileStore directory or a PostgresStore."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit


class RunSource(Protocol):
    kind: str

    async def check(self) -> tuple[bool, str]: ...
    async def runs(self, limit: int) -> list[dict[str, Any]]: ...


class FileSource:
    kind = "file"

    def __init__(self, root: Path) -> None:
        self.root = root

    async def check(self) -> tuple[bool, str]:
        if self.root.is_dir():
            return True, ""
        return False, f"{self.root} does not exist yet"

    async def runs(self, limit: int) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._scan, limit)

    def _scan(self, limit: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for path in sorted(self.root.glob("*/runs/*/run.json"))[:limit]:
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError):
                continue
        return found


class PostgresSource:
    kind = "postgres"

    def __init__(self, locator: str) -> None:
        parts = urlsplit(locator)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.file_root = query.pop("file_root", None)
        self.conninfo = parts._replace(
            query="&".join(f"{k}={v}" for k, v in query.items())
        ).geturl()

    async def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.conninfo, connect_timeout=2) as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall()

    async def check(self) -> tuple[bool, str]:
        import psycopg

        try:
            await self._query("SELECT 1")
        except psycopg.Error as exc:
            return False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return True, ""

    async def runs(self, limit: int) -> list[dict[str, Any]]:
        import psycopg

        try:
            rows = await self._query(
                "SELECT to_jsonb(r) FROM runs r ORDER BY r.run_id LIMIT %s", (limit,)
            )
        except psycopg.errors.UndefinedTable:
            return []
        return [row[0] for row in rows]


def open_source(store: str) -> RunSource:
    if store.startswith(("postgresql://", "postgres://")):
        return PostgresSource(store)
    return FileSource(Path(store.removeprefix("file://")))
