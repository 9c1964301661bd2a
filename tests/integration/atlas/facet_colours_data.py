"""A sweep whose facets hold different groups, written through ``metalab.run``: 3 learning
rates × 2 depths × 2 seeds logging ``loss`` by step and a ``final_loss``, where the runs
with ``(lr, depth)`` in `SILENT` fail before logging anything. Faceted by depth and
coloured by lr, depth 2 has the groups 0.01 and 0.1 and depth 4 has 0.1 and 1.0."""

from __future__ import annotations

import math
from typing import Any

from tests.integration.atlas.curves_data import run_grid

LRS = (0.01, 0.1, 1.0)
DEPTHS = (2, 4)
REPLICATES = 2
STEPS = 20
SILENT = ((1.0, 2), (0.01, 4))


def train(params: dict[str, Any], seeds: Any, capture: Any) -> None:
    lr, depth = params["lr"], params["depth"]
    if (lr, depth) in SILENT:
        raise RuntimeError("diverged at once")
    wobble = seeds.rng("noise").uniform(-0.05, 0.05)
    for step in range(STEPS):
        capture.metric("loss", (1.0 + wobble) * math.exp(-lr * step / 4) + 0.01 * depth, step=step)
    capture.metric("final_loss", math.exp(-lr * STEPS / 4) + 0.01 * depth + wobble)


def groups_of(depth: int) -> list[float]:
    """The learning rates that have runs with a curve at ``depth``."""
    return [lr for lr in LRS if (lr, depth) not in SILENT]


def write_sweep(store: str, name: str = "colours") -> None:
    """Run the sweep into ``store``; experiment ``name:1``."""
    run_grid(store, name, train, {"lr": list(LRS), "depth": list(DEPTHS)}, 5, REPLICATES)
