"""Registry Get/Put round-trips per second over a real socket, 16 concurrent callers.

Target ≥ 5,000/s on 2 cores. The server runs in a subprocess (`metalab server --services
registry` on a Unix socket), the callers in this process on one grpc.aio channel. Baseline:
the same number of Health/Check calls (the cheapest unary call the server has). Kinds: health,
get, get+put (half the callers each), put (every caller; each Put is durable: fsynced). Every
Put changes the bundle (a counter in ``store_locator``), so a Get after it reads new content.

Usage: python -m benchmarks.bench_registry [--seconds S] [--callers C]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks._timing import METALAB
from metalab.v1 import registry_pb2, registry_pb2_grpc, types_pb2


async def _drive(
    address: str, callers: int, seconds: float, kind: str, root: str
) -> tuple[float, float]:
    """(calls per second, of which Puts per second)."""
    async with grpc.aio.insecure_channel(address) as channel:
        registry = registry_pb2_grpc.RegistryStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        key = types_pb2.BundleKey(project="bench", environment="e", file_root=root)
        bundle = types_pb2.Bundle(
            project="bench", environment="e", file_root=root, store_locator="x", nonce="n"
        )
        if kind != "health":
            await registry.PutBundle(registry_pb2.PutBundleRequest(bundle=bundle), timeout=5)
        done = puts = 0
        deadline = time.perf_counter() + seconds

        async def caller(index: int) -> None:
            nonlocal done, puts
            while time.perf_counter() < deadline:
                if kind == "health":
                    await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                elif kind == "get" or (kind == "get+put" and index % 2):
                    await registry.GetBundle(key, timeout=5)
                else:
                    bundle.store_locator = f"x{done}"
                    await registry.PutBundle(
                        registry_pb2.PutBundleRequest(bundle=bundle), timeout=5
                    )
                    puts += 1
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(callers)))
        elapsed = time.perf_counter() - started
        return done / elapsed, puts / elapsed


# grpc.aio and the health servicer alone, no metalab code: what the framework costs per call
BARE_SERVER = """
import asyncio, sys
import grpc
from grpc_health.v1 import health, health_pb2_grpc

async def serve():
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port(sys.argv[1])
    await server.start()
    print("ready", file=sys.stderr, flush=True)
    await server.wait_for_termination()

asyncio.run(serve())
"""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(
    server: subprocess.Popen[str], address: str, kind: str, args: argparse.Namespace, root: str
) -> tuple[float, float, float, float]:
    """(calls/s, Puts/s, server cores, client cores) of one run of ``kind``."""
    server_cpu, client_cpu = _cpu_seconds(server.pid), _cpu_seconds(os.getpid())
    started = time.perf_counter()
    rate, puts = asyncio.run(_drive(address, args.callers, args.seconds, kind, root))
    wall = time.perf_counter() - started
    server_cores = (_cpu_seconds(server.pid) - server_cpu) / wall
    return rate, puts, server_cores, (_cpu_seconds(os.getpid()) - client_cpu) / wall


def _start(argv: list[str], home: str) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        argv, stderr=subprocess.PIPE, text=True, env={**os.environ, "METALAB_HOME": home}
    )
    assert server.stderr is not None
    server.stderr.readline()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--callers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = str(Path(tmp) / "root")
        bare_address = f"unix:{tmp}/bare.sock"
        runs: list[tuple[str, list[str], str, tuple[str, ...]]] = [
            (
                "bare grpc.aio server (no metalab code)",
                [sys.executable, "-c", BARE_SERVER, bare_address],
                bare_address,
                ("health",),
            )
        ]
        address = f"unix:{tmp}/registry.sock"
        runs.append(
            (
                "metalab server --services registry",
                [METALAB, "server", "--services", "registry", "--listen", address],
                address,
                ("health", "get", "get+put", "put"),
            )
        )
        baseline = 0.0
        for label, argv, where, kinds in runs:
            print(label)
            server = _start(argv, tmp)
            try:
                for kind in kinds:
                    rate, puts, server_cores, client_cores = _measure(
                        server, where, kind, args, root
                    )
                    baseline = baseline or rate
                    split = f", {puts:.0f} Puts/s" if kind == "get+put" else ""
                    print(
                        f"  {kind:<10} {rate:9.0f} calls/s  ({args.callers} callers; "
                        f"{rate / baseline:.2f}x bare health{split}); server {server_cores:.2f} "
                        f"cores ({server_cores / rate * 1e6:.0f} us/call), client "
                        f"{client_cores:.2f} cores"
                    )
            finally:
                server.terminate()
                server.wait(10)


if __name__ == "__main__":
    main()
