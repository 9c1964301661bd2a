"""Module-level operations and derived metrics for the experiment API tests."""

from __future__ import annotations

from typing import Any

from metalab.capture import Capture
from metalab.operation import operation
from metalab.result import Run
from metalab.seeds.bundle import SeedBundle


@operation
def double(params: dict[str, Any], capture: Capture) -> None:
    capture.metric("y", params["x"] * 2)


@operation
def explode(params: dict[str, Any]) -> None:
    raise ValueError(f"no good: {params['x']}")


@operation
def draw(params: dict[str, Any], seeds: SeedBundle, capture: Capture) -> None:
    capture.metric("draw", seeds.rng().random())


def doubled_twice(run: Run) -> dict[str, Any]:
    return {"y2": run.metrics["y"] * 2}
