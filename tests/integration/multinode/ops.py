"""Operations the multi-node sweeps run (importable by module path from the array tasks)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import metalab
from metalab.capture import Capture


@metalab.operation
def hold(params: dict[str, Any], capture: Capture) -> None:
    """Hold a CPU slot for ``params["sleep"]`` seconds, recording when and where.

    With ``params["marks"]`` (a directory every node sees) it also leaves a file named
    ``{i}@{host}`` there as it starts, so a test can tell where a run is running.
    """
    host = socket.gethostname()
    if params.get("marks"):
        (Path(params["marks"]) / f"{params['i']}@{host}").touch()
    started = time.time()
    time.sleep(float(params.get("sleep", 1.0)))
    capture.metric("i", params["i"])
    capture.metric("t0", started)
    capture.metric("t1", time.time())
    capture.metric("host", host)


def sweep(name: str, runs: int, **params: Any) -> metalab.Experiment:
    """``runs`` runs of `hold`, params ``{"i": 0..runs-1, **params}``, one seed."""
    return metalab.Experiment(
        name=name,
        version="1",
        context={},
        operation=hold,
        params=metalab.manual([{"i": i, **params} for i in range(runs)]),
        seeds=metalab.seeds(base=0),
    )
