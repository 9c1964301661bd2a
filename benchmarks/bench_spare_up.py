"""A whole cold `metalab services up` (PostgreSQL + Atlas, native) from a ready spare data
directory vs with spares off (``METALAB_PG_SPARE=0``: the template copied on the critical path).

Usage: python -m benchmarks.bench_spare_up [-n N]

Each round times one cold ``up`` (no data directory) of each kind, the order flipping every
round, then ``down``. Before every sample the refill of the previous take has finished and a
spare is ready (back-to-back cold ``up``s within a refill's second copy instead). Prints the
medians, their ratio and the paired ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks._timing import METALAB, time_process

CONFIG = """
[project]
name = "bench-spare"
[services.postgres]
[services.atlas]
[environments.local]
type = "local"
file_root = "./runs"
runtime = "native"
"""
VARIANTS = ("spare", "copy")


def _settled(templates: Path) -> None:
    """Until a spare is ready and no refill child names the template cache."""
    deadline = time.monotonic() + 120.0
    while True:
        busy = subprocess.run(
            ["pgrep", "-f", f"runtime.pg_spare {templates}"], capture_output=True, text=True
        ).stdout.strip()
        if not busy and list(templates.glob("*.spare-[0-9]*")):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"no spare in {templates} within 120 s")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="metalab-bench-", dir="/tmp"))
    root.chmod(0o755)
    templates, project = root / "templates", root / "project"
    project.mkdir()
    (project / ".metalab.toml").write_text(CONFIG)
    env = {"METALAB_PG_TEMPLATE_DIR": str(templates)}
    if os.geteuid() == 0:
        env["METALAB__SERVICES__POSTGRES__RUN_AS"] = "metalab"
    results: dict[str, list[float]] = {v: [] for v in VARIANTS}

    def run(*argv: str, spare: str = "1") -> float:
        return time_process([METALAB, *argv], project, {**env, "METALAB_PG_SPARE": spare})

    try:
        run("services", "up", "-q")  # builds the template, then the first spare
        run("services", "down", "-q")
        for i in range(args.n):
            for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                _settled(templates)
                shutil.rmtree(project / "runs", ignore_errors=True)
                flag = "1" if variant == "spare" else "0"
                results[variant].append(run("services", "up", "-q", spare=flag))
                run("services", "down", "-q")
    finally:
        try:
            run("services", "down", "-q")
        except RuntimeError:
            pass
        _settled(templates)
        shutil.rmtree(root, ignore_errors=True)

    for variant in VARIANTS:
        samples = results[variant]
        print(
            f"cold up, {variant:5s} median {statistics.median(samples) * 1000:6.0f} ms"
            f"  (min {min(samples) * 1000:.0f}, n={len(samples)})"
        )
    ratio = statistics.median(results["spare"]) / statistics.median(results["copy"])
    paired = sorted(a / b for a, b in zip(results["spare"], results["copy"], strict=True))
    print(f"spare/copy {ratio:.2f}; paired {', '.join(f'{p:.2f}' for p in paired)}")


if __name__ == "__main__":
    main()
