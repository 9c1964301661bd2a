"""Atlas's readiness: `wait_atlas` polls its health check until it answers. Imports asyncio
(through `runtime.readiness`): the warm CLI never imports this module."""

from __future__ import annotations

from pathlib import Path

from metalab_orchestrator.plugins.atlas import LOOPBACK, probe_http
from metalab_orchestrator.runtime.readiness import READY_POLL, Alive, wait_ready


async def wait_atlas(
    port: int,
    token: str,
    budget: float,
    log_path: Path,
    alive: Alive,
    poll: tuple[float, float] = READY_POLL,
) -> None:
    """Wait until Atlas answers its health check on loopback with its token (`wait_ready`,
    polling at ``poll``)."""

    async def check() -> tuple[bool, str]:
        return await probe_http(LOOPBACK, port, token=token)

    await wait_ready("atlas", budget, log_path, check, alive, poll)
