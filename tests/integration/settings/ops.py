"""Operations for the settings tests (importable by module path, for worker processes too)."""

import os
from pathlib import Path

PROBED = ("ML_GLOBAL", "ML_WS", "ML_RUN", "ML_API_TOKEN")


def probe(params, seed, capture):
    """Record the environment the run saw; append to a ledger so tests count executions."""
    capture.artifact("env.json", {name: os.environ.get(name) for name in PROBED})
    capture.artifact("weights.bin", os.urandom(4096))
    capture.metric("i", params["i"])
    capture.metric("in_symlink", capture.run_dir.is_symlink())
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
