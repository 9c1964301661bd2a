"""The container set: image size, warm-cache build time, `compose up --wait` to healthy.

Warm build: `scripts/build-image.sh` with the wheelhouse and every layer cached (what a rebuild
without changes costs: `pip wheel` resolving against the index, then `docker build`), and
`docker build` alone. Up: `docker compose up -d --wait` from stopped to all three services
healthy (the health checks run every 5 s: the first one sets the floor). Baseline: `docker run
--rm IMAGE --version`, one container start in the same run.

Usage: python -m benchmarks.bench_compose [-n N]   (Docker: scripts/infra/ci-setup.sh --docker)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable

from benchmarks._timing import repeat, summary, time_process
from tests.e2e.stack import BASE_IMAGE, REPO, Stack, build_image, docker_problem

IMAGE = "metalab:bench"


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=3)
    n = parser.parse_args().n
    problem = docker_problem()
    if problem:
        raise SystemExit(problem)
    build_image(IMAGE)  # fills the caches
    inspect = subprocess.run(
        ["docker", "image", "inspect", IMAGE], capture_output=True, text=True, check=True
    )
    size_mb = json.loads(inspect.stdout)[0]["Size"] / 1e6
    print(f"{'image size (' + IMAGE + ' from ' + BASE_IMAGE + ')':<42} {size_mb:.0f} MB")

    build_args = ["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}"]
    print(
        summary("warm build: build-image.sh", repeat(lambda: _timed(lambda: build_image(IMAGE)), n))
    )
    docker_build = [*build_args, "-t", IMAGE, "."]
    print(
        summary(
            "warm build: docker build only", repeat(lambda: time_process(docker_build, REPO), n)
        )
    )

    baseline = repeat(lambda: time_process(["docker", "run", "--rm", IMAGE, "--version"], REPO), n)
    print(summary("baseline: docker run --rm IMAGE --version", baseline))
    stack = Stack(IMAGE)
    try:
        ups, downs = [], []
        for _ in range(n):
            ups.append(_timed(stack.up))
            downs.append(_timed(lambda: stack.compose("down", "--timeout", "10")))
        median_baseline = sorted(baseline)[len(baseline) // 2]
        print(summary("compose up -d --wait (to healthy)", ups, median_baseline))
        print(summary("compose down", downs))
    finally:
        stack.destroy()


if __name__ == "__main__":
    main()
