"""Operations for the settings tests (importable by module path, for worker processes too)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import metalab
from metalab.capture import Capture

PROBED = ("ML_GLOBAL", "ML_WS", "ML_RUN", "ML_API_TOKEN")


@metalab.operation
def probe(params: dict[str, Any], capture: Capture) -> None:
    """Record the environment the run saw; append to a ledger so tests count executions."""
    capture.artifact("env", {name: os.environ.get(name) for name in PROBED})
    capture.artifact("weights", {"bytes": os.urandom(2048).hex()})
    capture.metric("i", params["i"])
    ledger = params.get("ledger")
    if ledger:
        with open(ledger, "a") as handle:
            handle.write(f"{params['i']}\n")
    if params.get("keep_here"):
        capture.no_archive()
    print("probed", params["i"])
    if params.get("fail"):
        raise RuntimeError("asked to fail")


def executions(ledger: Path) -> list[int]:
    return [int(line) for line in ledger.read_text().split()] if ledger.exists() else []
