"""Small helpers for the benchmarks: whole-process timings and summaries."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

METALAB = str(Path(sys.executable).parent / "metalab")


def time_process(argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Wall-clock seconds of one process run; raises if it fails."""
    started = time.perf_counter()
    result = subprocess.run(
        list(argv), cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode not in (0,):
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return elapsed


def repeat(fn: Callable[[], float], n: int) -> list[float]:
    return [fn() for _ in range(n)]


def summary(name: str, samples: list[float], baseline: float | None = None) -> str:
    median = statistics.median(samples)
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    ratio = f"  ({median / baseline:.2f}x baseline)" if baseline else ""
    figures = f"median {median * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  n={len(samples)}"
    return f"{name:<42} {figures}{ratio}"
