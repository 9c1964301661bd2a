"""A small, awkward experiment written through the real store API (FileStore or PostgresStore).

24 runs of ``sweep``: lr × depth × 2 seeds; every third run failed (no metrics, a traceback),
one completed run has a NaN loss, one is still running. Plus an empty ``other`` experiment.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from metalab._runstore.base import MetricStep, RunRecord, Store
from metalab._runstore.locator import parse_locator

LRS = (0.001, 0.01, 0.1)
DEPTHS = (2, 4, 16, 32)  # 16 < 4 as text: catches text ordering of numbers
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def run_id(index: int) -> str:
    return f"{index:020x}"


def records() -> list[RunRecord]:
    out = []
    index = 0
    for lr in LRS:
        for depth in DEPTHS:
            for rep in range(2):
                status = "failed" if index % 3 == 2 else "completed"
                if index == 7:
                    status = "running"
                metrics: dict[str, Any] = {}
                if status == "completed":
                    loss = lr * depth + rep * 0.5
                    metrics = {"loss": "NaN" if index == 4 else loss, "acc": 1 - loss / 10}
                out.append(
                    RunRecord(
                        "sweep",
                        run_id(index),
                        {"lr": lr, "depth": depth, "opt": "adam" if rep else "sgd"},
                        1000 + index,
                        status,
                        created_at=f"2026-11-25T10:{index:02d}:00.000000Z",
                        duration_s=None if status == "running" else 0.5 + index,
                        metrics=metrics,
                        error="ValueError: diverged" if status == "failed" else None,
                        traceback="Traceback (most recent call last):\nValueError: diverged"
                        if status == "failed"
                        else None,
                        host=f"cn{index % 2:03d}",
                    )
                )
                index += 1
    return out


def populate(store: Store) -> list[RunRecord]:
    """Write the dataset through ``store``; returns the records."""
    all_records = records()
    store.put_experiment(
        {
            "experiment_id": "sweep",
            "name": "sweep",
            "operation": "pkg.train:train",
            "params": {"grid": {"lr": list(LRS), "depth": list(DEPTHS)}},
        },
        total_runs=30,
    )
    store.put_experiment(
        {"experiment_id": "other", "name": "other", "operation": "pkg.x:y", "params": {}}, 0
    )
    for record in all_records:
        store.begin_run(record)
    store.write_runs(all_records)
    first = all_records[0]
    store.write_steps(
        "sweep", first.run_id, [MetricStep("loss", s, 1.0 / (s + 1), "") for s in range(10)]
    )
    run_dir = store.run_dir("sweep", first.run_id)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    (run_dir / "logs" / "stdout.txt").write_text("epoch 1\nepoch 2\n")
    artifacts = run_dir / "artifacts"
    (artifacts / "sub").mkdir(parents=True, exist_ok=True)
    (artifacts / "notes.txt").write_text("hello artifact")
    (artifacts / "sub" / "config.json").write_text(json.dumps({"a": 1}))
    (artifacts / "plot.png").write_bytes(PNG)
    (artifacts / "page.html").write_text("<script>alert(1)</script>")
    return all_records


def populate_locator(locator: str, fill: Callable[[Store], object] = populate) -> str:
    """Open the store at ``locator``, ``fill`` it, close it; returns ``locator``."""
    store = parse_locator(locator).open()
    try:
        fill(store)
    finally:
        store.close()
    return locator
