"""PostgreSQL's launch and readiness: `start` returns once an authenticated ``SELECT 1``
answers. Imports asyncio: the warm CLI never imports this module."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metalab_orchestrator.runtime.pg_handle import PostgresHandle, PostgresSettings


async def start(config: PostgresSettings, data_dir: Path, run_dir: Path) -> PostgresHandle:
    """Start the server natively (off the event loop); returns once it answers."""
    from metalab_orchestrator.runtime.postgres import start_postgres

    return await asyncio.to_thread(start_postgres, config, data_dir=data_dir, run_dir=run_dir)
