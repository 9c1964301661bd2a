"""Auxiliary folders through `metalab.run()`: what archiving and restoring cost per run.

    .venv/bin/python benchmarks/bench_folders.py [--runs 500] [--kib 64]

In-process sweeps of no-op runs that each save one JSON artifact of ``--kib`` KiB, in a
workspace (a settings file in a temp dir) without folders, then with a ``backup`` and a
``move`` folder (``handle.result()`` returns after the archive worker drained); then the
experiment's workspace directory is deleted and the sweep run again (restored from the
folders, nothing executed).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import metalab  # noqa: E402


@metalab.operation
def payload(params: dict[str, int], capture: metalab.Capture) -> None:
    capture.artifact("blob", {"hex": os.urandom(params["kib"] * 512).hex()})


def sweep(root: Path, folders: str, n: int, kib: int) -> metalab.Experiment:
    settings = root / "settings.yaml"
    settings.write_text(f"workspaces:\n  - id: bench\n    path: ws\n{folders}")
    os.environ["METALAB_SETTINGS"] = str(settings)
    rows = [{"i": i, "kib": kib} for i in range(n)]
    return metalab.Experiment(
        name="bench",
        version="1",
        context={},
        operation=payload,
        params=metalab.manual(rows),
        seeds=metalab.seeds(base=0),
    )


def timed(label: str, n: int, exp: metalab.Experiment) -> float:
    started = time.perf_counter()
    metalab.run(exp, verbose=False).result()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {n} runs in {seconds:6.2f}s = {n / seconds:7.0f} runs/s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--kib", type=int, default=64)
    args = parser.parse_args()
    n = args.runs
    folders = "    folders: [{path: backup, mode: backup}, {path: fast, mode: move}]\n"
    with tempfile.TemporaryDirectory(prefix="bench-folders-", dir="/tmp") as tmp:
        plain = Path(tmp) / "plain"
        plain.mkdir()
        base = timed("no folders", n, sweep(plain, "", n, args.kib))
        archived = Path(tmp) / "archived"
        archived.mkdir()
        exp = sweep(archived, folders, n, args.kib)
        with_folders = timed("backup + move, drained before return", n, exp)
        print(f"  archiving cost {1000 * (with_folders - base) / n:.2f} ms/run")
        shutil.rmtree(archived / "ws" / "bench_1")
        timed("workspace deleted: restored, not run", n, exp)
        timed("all done, nothing to run", n, exp)


if __name__ == "__main__":
    main()
