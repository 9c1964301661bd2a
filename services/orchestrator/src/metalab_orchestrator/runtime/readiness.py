"""Wait for a starting service: poll a real check with a short backoff, fail fast if it died."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from metalab.core.errors import ProvisioningFailed
from metalab_orchestrator.runtime.process import tail

READY_POLL = (0.01, 0.1)
# A native process's checks are a connect and a /proc read: poll often, a service that became
# ready is noticed within 20 ms instead of up to 100 ms later (issue 14: cold `up`).
NATIVE_POLL = (0.005, 0.02)

Check = Callable[[], Awaitable[tuple[bool, str]]]
Alive = Callable[[], Awaitable[bool]]


async def wait_ready(
    name: str,
    budget: float,
    log_path: Path,
    check: Check,
    alive: Alive,
    poll: tuple[float, float] = READY_POLL,
) -> None:
    """Poll ``check`` until it passes within ``budget`` seconds, backing off from ``poll[0]``
    to ``poll[1]`` seconds; `ProvisioningFailed` with the tail of ``log_path`` when the service
    dies first or the budget runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    delay, cap = poll
    detail = ""
    while loop.time() < deadline:
        ok, detail = await check()
        if ok:
            return
        if not await alive():
            raise ProvisioningFailed(f"{name} exited during start-up", tail(log_path, 20))
        await asyncio.sleep(delay)
        delay = min(delay * 2, cap)
    raise ProvisioningFailed(f"{name} not ready after {budget:.0f}s ({detail})", tail(log_path, 20))
