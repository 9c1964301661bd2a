"""Runs that capture arrays, written through ``metalab.run``: ``capture.data`` entries (1-D,
2-D, 3-D, a dict) and NumPy artifacts (``.npz`` of one array and of two, a ``.npy`` file)."""

from __future__ import annotations

import importlib
import math
import tempfile
from pathlib import Path
from typing import Any

SIGNAL = 5000  # points of the 1-D signal: more than the 2000 drawn
GRID = (300, 50)  # rows × cols of the 2-D grid: more rows than the 200 drawn


def signal(scale: float) -> list[float]:
    return [scale * math.sin(i / 50) for i in range(SIGNAL)]


def arrays(params: dict[str, Any], seeds: Any, capture: Any) -> None:
    np: Any = importlib.import_module("numpy")
    scale = float(params["scale"])
    capture.data("signal", np.array(signal(scale)))
    capture.data("small", [1.0, 2.0, 4.0])
    capture.data("grid", np.arange(GRID[0] * GRID[1], dtype=np.float64).reshape(GRID) * scale)
    capture.data("cube", np.zeros((2, 2, 2)))
    capture.data("summary", {"a": 1})
    capture.metric("loss", 1.0, step=0)
    capture.metric("loss", 0.5, step=1)
    capture.artifact("weights", np.arange(12, dtype=np.float32).reshape(3, 4), kind="numpy")
    capture.artifact("pair", {"u": np.arange(5), "v": np.ones((2, 3))}, kind="numpy")
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "raw.npy"
        np.save(raw, np.array([[1, 2], [3, 4]], dtype=">i4"))
        capture.file("raw", raw)
    capture.metric("scale", scale)


def write_arrays(store: str, name: str = "arrays") -> None:
    """Two runs (``scale`` 1 and 2) into ``store``; experiment ``name:1``."""
    metalab: Any = importlib.import_module("metalab")
    experiment = metalab.Experiment(
        name=name,
        version="1",
        context={},
        operation=metalab.operation(arrays),
        params=metalab.grid(scale=[1, 2]),
        seeds=metalab.seeds(base=1, replicates=1),
    )
    metalab.run(experiment, store=store).result()
