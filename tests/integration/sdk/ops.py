"""Operations of the SDK integration tests (importable by module path, for SLURM tasks too)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import metalab
from metalab.capture import Capture
from metalab.seeds.bundle import SeedBundle


@metalab.operation
def train(params: dict[str, Any], seeds: SeedBundle, capture: Capture) -> None:
    capture.metric("loss", params.get("lr", 0) * 10 + seeds.rng().random())
    for step in range(3):
        capture.metric("acc", step / 3, step=step)
    capture.artifact("model", {"params": params})
    print("trained", params)
    if params.get("fail"):
        raise ValueError("asked to fail")


@metalab.operation
def noop(params: dict[str, Any], capture: Capture) -> None:
    capture.metric("x", params.get("i", 0))


@metalab.operation
def slow(params: dict[str, Any], capture: Capture) -> None:
    time.sleep(params.get("sleep", 1.0))
    capture.metric("x", params.get("i", 0))


@metalab.operation
def fail_on_three(params: dict[str, Any], capture: Capture) -> None:
    capture.log(f"running {params['i']}")
    if params["i"] == 3:
        raise RuntimeError("three is bad")
    capture.metric("x", params["i"])


def sweep(name: str, operation: metalab.OperationWrapper, n: int, **params: Any) -> Any:
    """``n`` runs of ``operation``, params ``{"i": 0..n-1, **params}``, one seed."""
    return metalab.Experiment(
        name=name,
        version="1",
        context={},
        operation=operation,
        params=metalab.manual([{"i": i, **params} for i in range(n)]),
        seeds=metalab.seeds(base=0, replicates=1),
    )


def train_sweep(name: str, replicates: int = 2) -> metalab.Experiment:
    """`train` over two learning rates, half of the runs failing, ``replicates`` seeds each."""
    return metalab.Experiment(
        name=name,
        version="1",
        context={},
        operation=train,
        params=metalab.grid(lr=[0.1, 0.2], fail=[False, True]),
        seeds=metalab.seeds(base=0, replicates=replicates),
    )


def statuses(results: metalab.Results) -> Counter[str]:
    """How many runs ended in each status."""
    return Counter(run.status.value for run in results)
