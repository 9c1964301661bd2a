"""What the owner pays on `metalab server`'s sockets: calls/s on its owner socket (gRPC direct,
the client's default), through its shared socket (the SO_PEERCRED relay, as the owner), and on
a baseline server as `metalab server` was before the relay (one plain grpc.aio server,
`start_server`, no token) — one server with both sockets, the baseline in a second process,
both hosting the registry alone.

Kinds: ``health`` and ``get`` (16 callers on one channel, as `bench_registry`), and
``connect`` (a new channel per Health/Check, one after another: what each CLI command pays).
Each round measures the three paths in a rotated order, to spread the machine's load evenly.

Usage: python -m benchmarks.bench_relay [--seconds S] [--callers C] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks._timing import METALAB
from benchmarks.bench_registry import _drive

# `metalab server --services registry` as it was before the relay: `start_server` on a socket.
BASELINE = """
import asyncio, sys
from metalab_server.server import serve_until_signalled, start_server

async def serve():
    running = await start_server(["registry"], sys.argv[1])
    ready = lambda: print("ready", file=sys.stderr, flush=True)
    await serve_until_signalled(running, on_ready=ready)

asyncio.run(serve())
"""


async def _connects(address: str, seconds: float) -> float:
    """New channel, one Health/Check, closed: per second, one after another."""
    done = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        async with grpc.aio.insecure_channel(address) as channel:
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        done += 1
    return done / (time.perf_counter() - started)


def _rate(address: str, kind: str, args: argparse.Namespace, root: str) -> float:
    if kind == "connect":
        return asyncio.run(_connects(address, args.seconds))
    return asyncio.run(_drive(address, args.callers, args.seconds, kind, root))[0]


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stderr is not None
    print(" ", process.stderr.readline().strip())
    return process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        env = {**os.environ, "METALAB_HOME": tmp}
        owner, shared, baseline = (f"unix:{tmp}/{n}.sock" for n in ("owner", "shared", "base"))
        argv = [METALAB, "server", "--services", "registry", "--listen", owner]
        servers = [
            _start([*argv, "--shared-socket", shared], env),
            _start([sys.executable, "-c", BASELINE, baseline], env),
        ]
        try:
            root = str(Path(tmp) / "root")
            paths = {"owner direct": owner, "relayed": shared, "old direct": baseline}
            for kind in ("health", "get", "connect"):
                rates: dict[str, list[float]] = {name: [] for name in paths}
                names = list(paths)
                for index in range(args.rounds):
                    turn = names[index % 3 :] + names[: index % 3]
                    for name in turn if index % 2 == 0 else turn[::-1]:
                        rates[name].append(_rate(paths[name], kind, args, root))
                median = {name: statistics.median(values) for name, values in rates.items()}
                base = median["old direct"]
                who = "1 caller, a channel per call" if kind == "connect" else "callers"
                if kind != "connect":
                    who = f"{args.callers} {who}"
                figures = "  ".join(
                    f"{name} {median[name]:6.0f}/s ({median[name] / base:.2f}x)" for name in paths
                )
                print(f"  {kind:<8} {figures}  (median of {args.rounds}; {who})")
        finally:
            for server in servers:
                server.terminate()
                server.wait(10)


if __name__ == "__main__":
    main()
