"""A sweep with learning curves, written through the upstream-compatible API (``metalab.run``):
3 learning rates × 2 depths × 2 seeds, a ``loss`` and an ``acc`` logged at every step, and the
two runs with ``lr == 1.0`` and ``depth == 4`` failing after a few steps."""

from __future__ import annotations

import importlib
import math
from typing import Any

LRS = (0.01, 0.1, 1.0)
DEPTHS = (2, 4)
REPLICATES = 2
STEPS = 40
FAILING = (1.0, 4)
FAIL_AT = 5


def loss_at(lr: float, depth: int, step: int, wobble: float) -> float:
    """The curve each run logs: decays faster for larger learning rates."""
    return (1.0 + wobble) * math.exp(-lr * step / 4) + 0.01 * depth


def train(params: dict[str, Any], seeds: Any, capture: Any) -> None:
    wobble = seeds.rng("noise").uniform(-0.05, 0.05)
    lr, depth = params["lr"], params["depth"]
    for step in range(STEPS):
        if (lr, depth) == FAILING and step == FAIL_AT:
            raise RuntimeError("loss diverged")
        loss = loss_at(lr, depth, step, wobble)
        capture.metric("loss", loss, step=step)
        capture.metric("acc", 1.0 - loss / 2, step=step)
    capture.metric("final_loss", loss_at(lr, depth, STEPS - 1, wobble))


def run_grid(
    store: str, name: str, train: Any, grid: dict[str, list[Any]], base: int, replicates: int
) -> None:
    """Run ``train`` over ``grid`` × ``replicates`` seeds into ``store``; experiment ``name:1``."""
    metalab: Any = importlib.import_module("metalab")
    experiment = metalab.Experiment(
        name=name,
        version="1",
        context={},
        operation=metalab.operation(train),
        params=metalab.grid(**grid),
        seeds=metalab.seeds(base=base, replicates=replicates),
    )
    metalab.run(experiment, store=store).result()


def write_sweep(store: str, name: str = "curves") -> None:
    """Run the sweep into ``store`` (a path or a PostgreSQL locator); experiment ``name:1``."""
    run_grid(store, name, train, {"lr": list(LRS), "depth": list(DEPTHS)}, 3, REPLICATES)
