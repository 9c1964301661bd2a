"""Whole-process cost of cheap commands: `metalab env list` and embedded `discover`.

Targets: `env list` median ≤ 150 ms (the tool replaced takes 0.26–0.32 s here). The baseline
is `python -c pass` with the same interpreter, measured in the same run.

Usage: python -m benchmarks.bench_cli [-n N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmarks._timing import METALAB, repeat, summary, time_process

CONFIG = """
[project]
name = "bench"
default_env = "local"
[services.postgres]
[services.atlas]
[environments.local]
type = "local"
file_root = "./runs"
[environments.slurm]
type = "slurm"
partition = "cpu"
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20)
    n = parser.parse_args().n
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / ".metalab.toml").write_text(CONFIG)
        bundle = project / "runs" / "services" / "bundle.json"
        bundle.parent.mkdir(parents=True)
        bundle.touch(mode=0o600)  # as metalab writes it: a looser bundle is refused
        bundle.write_text(
            json.dumps(
                {
                    "schema_version": 1,
                    "project": "bench",
                    "environment": "local",
                    "store_locator": str(project / "runs"),
                }
            )
        )
        env = {"XDG_CACHE_HOME": str(project / ".cache")}
        baseline = repeat(lambda: time_process([sys.executable, "-c", "pass"], project), n)
        base = sorted(baseline)[len(baseline) // 2]
        print(summary("python -c pass (baseline)", baseline))
        first = time_process([METALAB, "env", "list"], project, env)
        print(f"{'metalab env list (first run, validates)':<42} {first * 1000:7.1f} ms")
        print(
            summary(
                "metalab env list",
                repeat(lambda: time_process([METALAB, "env", "list"], project, env), n),
                base,
            )
        )
        print(
            summary(
                "metalab discover (embedded)",
                repeat(lambda: time_process([METALAB, "discover"], project, env), n),
                base,
            )
        )


if __name__ == "__main__":
    main()
