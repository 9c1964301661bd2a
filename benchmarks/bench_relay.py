"""What the peer-credential relay costs: calls/s through `metalab server`'s public Unix socket
(relayed after its SO_PEERCRED check) against the same server's internal owner socket (gRPC
direct), in one server process, so both paths run the same servicers.

Kinds: ``health`` and ``get`` (16 callers on one channel, as `bench_registry`), and
``connect`` (a new channel per Health/Check, one after another: what each CLI command pays).
Rounds alternate relayed and direct (ABBA) to spread the machine's load evenly.

Usage: python -m benchmarks.bench_relay [--seconds S] [--callers C] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks._timing import METALAB
from benchmarks.bench_registry import _drive


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        public = f"unix:{tmp}/server.sock"
        server = subprocess.Popen(
            [METALAB, "server", "--services", "registry", "--listen", public],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "METALAB_HOME": tmp, "TMPDIR": tmp},
        )
        try:
            assert server.stderr is not None
            print(server.stderr.readline().strip())
            (private,) = glob.glob(f"{tmp}/metalab-server-*")
            direct = f"unix:{Path(private) / 'owner.sock'}"
            root = str(Path(tmp) / "root")
            for kind in ("health", "get", "connect"):
                relayed: list[float] = []
                plain: list[float] = []
                for index in range(args.rounds):
                    order = ((relayed, public), (plain, direct))
                    for rates, address in order if index % 2 == 0 else order[::-1]:
                        rates.append(_rate(address, kind, args, root))
                a, b = statistics.median(relayed), statistics.median(plain)
                who = "1 caller, a channel per call" if kind == "connect" else "callers"
                if kind != "connect":
                    who = f"{args.callers} {who}"
                print(
                    f"  {kind:<8} relayed {a:8.0f}/s  direct {b:8.0f}/s  "
                    f"ratio {a / b:.2f}  (median of {args.rounds}; {who})"
                )
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
