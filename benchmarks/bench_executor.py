"""Executor figures (upstream API): SLURM submission of a 10,000-run sweep; local per-run
overhead in-process and on a process pool.

    .venv/bin/python benchmarks/bench_executor.py [--sweep 10000] [--local 300]

The SLURM sweep is cancelled right after submission. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import metalab  # noqa: E402
from metalab.errors import SchedulerError  # noqa: E402
from tests.integration.sdk import ops  # noqa: E402


def slurm_submission(n: int, root: Path, max_array_size: int | None = None) -> None:
    if shutil.which("sbatch") is None:
        print("SLURM: sbatch not found, skipped")
        return
    partition = (
        subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, check=True)
        .stdout.split()[0]
        .rstrip("*")
    )
    exp = ops.sweep("bench-submit", ops.noop, n)
    config = metalab.SlurmConfig(
        partition=partition, max_concurrent=2, time="0:05:00", memory="100M"
    )
    if max_array_size:
        config.max_array_size = max_array_size
    executor = metalab.SlurmExecutor(config)
    shown = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, check=True
    ).stdout
    limits = {
        k.strip(): v.strip()
        for k, _, v in (line.partition("=") for line in shown.splitlines())
        if k.strip() in ("MaxJobCount", "MaxArraySize", "MinJobAge")
    }
    print(f"SLURM limits: {limits}")
    t = time.perf_counter()
    try:
        handle = metalab.run(exp, store=str(root / "slurm"), executor=executor, verbose=False)
    except SchedulerError as exc:
        print(f"SLURM: {n}-run sweep refused after {time.perf_counter() - t:.1f}s: {exc}")
        return
    submitted = time.perf_counter() - t
    jobs: list[str] = getattr(handle, "_job_ids", [])
    t = time.perf_counter()
    handle.cancel()
    cancelled = time.perf_counter() - t
    print(
        f"SLURM: submitted {n} runs in {submitted:.2f}s with {len(jobs)} sbatch call(s); "
        f"scancel {cancelled:.2f}s"
    )
    print(f"  target <= 2 s: {'met' if submitted <= 2 else 'NOT met'}")


def local_overhead(n: int, root: Path) -> None:
    exp = ops.sweep("bench-local", ops.noop, n)
    figures = {}
    executors: list[tuple[str, Any]] = [
        ("in-process (sequential)", None),
        ("process pool, 2 workers", metalab.ProcessExecutor(max_workers=2)),
    ]
    for label, executor in executors:
        store = str(root / label.replace(" ", "_").replace(",", ""))
        t = time.perf_counter()
        metalab.run(exp, store=store, executor=executor, verbose=False).result()
        seconds = time.perf_counter() - t
        figures[label] = n / seconds
        print(
            f"local: {label:<30} {n} no-op runs in {seconds:6.2f}s = {n / seconds:7.0f} runs/s "
            f"({1000 * seconds / n:.2f} ms/run)"
        )
        t = time.perf_counter()
        metalab.run(exp, store=store, executor=executor, verbose=False).result()
        print(f"       resume (all {n} done, nothing to run): {time.perf_counter() - t:.3f}s")
        if executor is not None:
            executor.shutdown()
    first = next(iter(figures.values()))
    print("ratios vs in-process: " + ", ".join(f"{k} {v / first:.2f}x" for k, v in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweep", type=int, default=10_000)
    parser.add_argument("--local", type=int, default=300)
    parser.add_argument("--max-array-size", type=int, help="pretend MaxArraySize is this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-exec-", dir="/tmp") as tmp:
        slurm_submission(args.sweep, Path(tmp), args.max_array_size)
        local_overhead(args.local, Path(tmp))


if __name__ == "__main__":
    main()
