"""Whole-process `metalab services up/status/down` on the local backend (PostgreSQL + Atlas),
for each runtime side by side: native processes, Docker containers and Podman containers.

Prints medians for: cold up (no data directory yet; template cache and images present), warm up
(reuse), status, and down. Baseline: `python -c pass` in the same run. Targets (native, issue):
cold ≤ 1.0 s, warm ≤ 0.2 s, down ≤ 0.8 s; the tool replaced: cold 3.8–4.2 s, warm 0.22–0.26 s,
down 3.8–4.3 s. A runtime this machine lacks (no binaries, no engine, no image) is reported and
skipped.

Usage: python -m benchmarks.bench_local_up [-n N] [--runtime native --runtime docker
--runtime podman] (as root, Postgres runs as `metalab`; the container runtimes need
metalab-postgres:latest and metalab:latest on their engine: scripts/build-postgres-image.sh,
scripts/build-image.sh; `docker save IMAGE | podman load` copies them to Podman, whose API is
found at CONTAINER_HOST, e.g. one `podman system service --time=0 unix:///tmp/p.sock` serves)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks._timing import METALAB, repeat, summary, time_process

CONFIG = """
[project]
name = "bench-up-{runtime}"
[services.postgres]
[services.atlas]
[environments.local]
type = "local"
file_root = "./runs"
runtime = "{runtime}"
"""
PHASES = ("cold up", "warm up", "status", "down")


def bench(runtime: str, n: int, root: Path, env: dict[str, str]) -> dict[str, list[float]]:
    """Samples of every phase for one runtime."""
    project = root / runtime
    project.mkdir()
    (project / ".metalab.toml").write_text(CONFIG.format(runtime=runtime))

    def run(*args: str) -> float:
        return time_process([METALAB, *args], project, env)

    samples: dict[str, list[float]] = {phase: [] for phase in PHASES}
    try:
        run("services", "up", "-q")  # warms the template cache and the config cache
        run("services", "down", "-q")
        for _ in range(n):
            shutil.rmtree(project / "runs", ignore_errors=True)
            samples["cold up"].append(run("services", "up", "-q"))
            samples["warm up"].append(run("services", "up", "-q"))
            samples["status"].append(run("services", "status"))
            samples["down"].append(run("services", "down", "-q"))
    finally:
        try:
            run("services", "down", "-q")
        except RuntimeError:
            pass
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=7)
    parser.add_argument("--runtime", action="append", choices=("native", "docker", "podman"))
    args = parser.parse_args()
    runtimes: list[str] = args.runtime or ["native", "docker"]
    env = {"METALAB__SERVICES__POSTGRES__RUN_AS": "metalab"} if os.geteuid() == 0 else {}
    root = Path(tempfile.mkdtemp(prefix="metalab-bench-", dir="/tmp"))
    root.chmod(0o755)
    results: dict[str, dict[str, list[float]]] = {}
    try:
        baseline = repeat(lambda: time_process([sys.executable, "-c", "pass"], root), args.n)
        base = statistics.median(baseline)
        print(summary("python -c pass (baseline)", baseline))
        for runtime in runtimes:
            try:
                results[runtime] = bench(runtime, args.n, root, env)
            except RuntimeError as exc:
                last = str(exc).strip().splitlines()[-1]
                print(f"{runtime}: skipped ({last})")
                continue
            for phase in PHASES:
                print(summary(f"{runtime:<7} {phase}", results[runtime][phase], base))
        if len(results) > 1:
            names = list(results)
            print("\nmedians (ms)      " + "".join(f"{name:>10}" for name in names))
            for phase in PHASES:
                row = "".join(
                    f"{statistics.median(results[name][phase]) * 1000:10.0f}" for name in names
                )
                print(f"{phase:<18}{row}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
