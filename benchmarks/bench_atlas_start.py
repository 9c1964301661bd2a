"""Atlas start-up: spawn of ``python -m metalab_atlas`` to its first 200 on ``/api/health``.

Each round spawns Atlas on a file store (a new empty one unless ``--store DIR``), with its token
in ``METALAB_ATLAS_TOKEN`` and sent as ``Authorization: Bearer``, polls the health check every
millisecond and stops the process. With ``--baseline-pythonpath PATHS`` (put first on
PYTHONPATH: main's ``services/atlas/src``, with its ``clients/python/src`` and
``services/common/src`` when main's Atlas needs main's client) a second Atlas is timed in the
same rounds, the two alternating A B then B A; the summary gives median, min and max per
variant, the ratio of the medians and the median of the per-round ratios (neighbours in time
share the machine's load)::

    M=/work/main
    python -m benchmarks.bench_atlas_start -n 20 --baseline-pythonpath \\
        $M/clients/python/src:$M/services/atlas/src:$M/services/common/src
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(port: int, token: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/api/health", headers={"Authorization": f"Bearer {token}"})
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def start_ms(store: Path, pythonpath: str) -> float:
    """Milliseconds from spawning Atlas to its first healthy answer."""
    token = secrets.token_urlsafe(24)
    port = free_port()
    env = {**os.environ, "METALAB_ATLAS_TOKEN": token, "PYTHONPATH": pythonpath}
    argv = [sys.executable, "-m", "metalab_atlas", "--store", str(store), "--port", str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
    try:
        while not healthy(port, token):
            if process.poll() is not None or time.perf_counter() - started > TIMEOUT:
                error = process.stderr.read().decode() if process.stderr else ""
                raise SystemExit(f"atlas did not start: {error.strip()}")
            time.sleep(0.001)
        return (time.perf_counter() - started) * 1000
    finally:
        process.terminate()
        process.wait(10)


def line(name: str, samples: list[float]) -> str:
    median = statistics.median(samples)
    return f"{name:<10} median {median:6.1f} ms  min {min(samples):6.1f}  max {max(samples):6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=10, help="rounds (default 10)")
    parser.add_argument("--store", type=Path, help="an existing file store (default: a new one)")
    parser.add_argument("--baseline-pythonpath", help="put first on PYTHONPATH for the baseline")
    args = parser.parse_args()
    ours = os.environ.get("PYTHONPATH", "")
    variants = {"this": ours}
    if args.baseline_pythonpath:
        variants["baseline"] = os.pathsep.join(p for p in (args.baseline_pythonpath, ours) if p)
    with tempfile.TemporaryDirectory() as scratch:
        store = args.store or Path(scratch) / "runs"
        store.mkdir(exist_ok=True)
        for pythonpath in variants.values():
            start_ms(store, pythonpath)  # warms the page cache and bytecode; not counted
        times: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for round_ in range(args.n):
            for name in names if round_ % 2 == 0 else names[::-1]:
                times[name].append(start_ms(store, variants[name]))
    for name, samples in times.items():
        print(line(name, samples))
    if "baseline" in times:
        this, base = times["this"], times["baseline"]
        paired = [a / b for a, b in zip(this, base, strict=True)]
        print(
            f"ratio this/baseline: medians {statistics.median(this) / statistics.median(base):.2f}"
            f"x, paired {statistics.median(paired):.2f}x ({min(paired):.2f}-{max(paired):.2f})"
        )


if __name__ == "__main__":
    main()
