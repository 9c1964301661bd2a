"""Whole-process `metalab services up/status/down` on the local backend (PostgreSQL + Atlas).

Prints medians for: cold up (no data directory yet; template cache warm), warm up (reuse),
status, and down. Baseline: `python -c pass` in the same run. Targets (issue): cold ≤ 1.0 s,
warm ≤ 0.2 s, down ≤ 0.8 s; the tool replaced: cold 3.8–4.2 s, warm 0.22–0.26 s, down 3.8–4.3 s.

Usage: python -m benchmarks.bench_local_up [-n N]   (as root, Postgres runs as `metalab`)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks._timing import METALAB, repeat, summary, time_process

CONFIG = """
[project]
name = "bench-up"
[services.postgres]
[services.atlas]
[environments.local]
type = "local"
file_root = "./runs"
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=7)
    n = parser.parse_args().n
    env = {"METALAB__SERVICES__POSTGRES__RUN_AS": "metalab"} if os.geteuid() == 0 else {}
    root = Path(tempfile.mkdtemp(prefix="metalab-bench-", dir="/tmp"))
    root.chmod(0o755)
    project = root / "project"
    project.mkdir()
    (project / ".metalab.toml").write_text(CONFIG)

    def run(*args: str) -> float:
        return time_process([METALAB, *args], project, env)

    try:
        baseline = repeat(lambda: time_process([sys.executable, "-c", "pass"], project), n)
        base = sorted(baseline)[len(baseline) // 2]
        print(summary("python -c pass (baseline)", baseline))
        run("services", "up", "-q")  # warms the template cache and the config cache
        run("services", "down", "-q")
        cold, warm, status, down = [], [], [], []
        for _ in range(n):
            shutil.rmtree(project / "runs", ignore_errors=True)
            cold.append(run("services", "up", "-q"))
            warm.append(run("services", "up", "-q"))
            status.append(run("services", "status"))
            down.append(run("services", "down", "-q"))
        print(summary("cold up (Postgres + Atlas ready)", cold, base))
        print(summary("warm up (reuse)", warm, base))
        print(summary("status", status, base))
        print(summary("down", down, base))
    finally:
        time_process([METALAB, "services", "down", "-q"], project, env)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
