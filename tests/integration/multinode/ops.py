"""Operations the multi-node sweeps run (importable by module path from the array tasks)."""

from __future__ import annotations

import time
from typing import Any


def hold(params: dict[str, Any], seed: int, capture: Any) -> None:
    """Hold a CPU slot for ``params["sleep"]`` seconds, recording when (wall clock)."""
    started = time.time()
    time.sleep(float(params.get("sleep", 1.0)))
    capture.metric("i", params["i"])
    capture.metric("t0", started)
    capture.metric("t1", time.time())
