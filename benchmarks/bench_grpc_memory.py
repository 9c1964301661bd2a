"""Memory of `metalab server` after bursts of refused unauthenticated messages (issue 17).

Two real servers (`metalab server --listen 127.0.0.1:PORT`, token generated) start side by
side: the baseline gets one Health/Check per burst and nothing else, the other gets, without a
token, each burst of `BURSTS` (PutBundle requests of the given size: 15 MiB and 64 MiB are over
the 2 MiB message limit and refused with RESOURCE_EXHAUSTED; 1.9 MiB is under it and refused
with UNAUTHENTICATED), sent one after another and then all at once. Printed: each server's RSS
(VmRSS) at start, after each burst, and after a pause; and the attacked server's growth over the
baseline's.

Usage: python -m benchmarks.bench_grpc_memory [--pause S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks._timing import METALAB
from metalab.v1 import registry_pb2, types_pb2

MIB = 1 << 20
PUT = "/metalab.v1.Registry/PutBundle"
CHECK = "/grpc.health.v1.Health/Check"  # callable without a token
UNKNOWN = "/metalab.v1.Nothing/Here"
BURSTS = [  # (label, method, message size, count, all at once)
    ("20 x 15 MiB, one by one", PUT, 15 * MIB, 20, False),
    ("20 x 15 MiB, at once", PUT, 15 * MIB, 20, True),
    ("5 x 64 MiB, one by one", PUT, 64 * MIB, 5, False),
    ("20 x 1.9 MiB (under the limit), at once", PUT, int(1.9 * MIB), 20, True),
    ("100 x 1.9 MiB (the concurrency cap), at once", PUT, int(1.9 * MIB), 100, True),
    ("100 x 1.9 MiB again", PUT, int(1.9 * MIB), 100, True),
    ("100 x 1.9 MiB to Health/Check (no token needed)", CHECK, int(1.9 * MIB), 100, True),
    ("100 x 1.9 MiB to Health/Check again", CHECK, int(1.9 * MIB), 100, True),
    ("100 x 1.9 MiB to Health/Check, one by one", CHECK, int(1.9 * MIB), 100, False),
    ("100 x 1.9 MiB to an unknown method", UNKNOWN, int(1.9 * MIB), 100, True),
]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(home: str) -> tuple[subprocess.Popen[str], str]:
    address = f"127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [METALAB, "server", "--services", "registry,orchestrator", "--listen", address],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "METALAB_HOME": home},
    )
    assert server.stderr is not None
    banner = server.stderr.readline()
    if "metalab server" not in banner:
        raise RuntimeError(f"server did not start: {banner}")
    return server, address


def request(method: str, size: int) -> bytes:
    if method == CHECK:
        check: bytes = health_pb2.HealthCheckRequest(service="y" * size).SerializeToString()
        return check
    bundle = types_pb2.Bundle(project="p", environment="e", file_root="/nonexistent")
    bundle.services["atlas"].CopyFrom(types_pb2.ServiceHandle(log_path="y" * size))
    return registry_pb2.PutBundleRequest(bundle=bundle).SerializeToString()


async def burst(address: str, method: str, size: int, count: int, at_once: bool) -> dict[str, int]:
    """Send ``count`` requests of ``size`` bytes without a token; the status codes seen."""
    payload = request(method, size)
    codes: dict[str, int] = {}
    async with grpc.aio.insecure_channel(address) as channel:
        put = channel.unary_unary(method)

        async def one() -> None:
            try:
                await put(payload, timeout=60)
                code = "OK"
            except grpc.aio.AioRpcError as exc:
                code = exc.code().name
            codes[code] = codes.get(code, 0) + 1

        if at_once:
            await asyncio.gather(*(one() for _ in range(count)))
        else:
            for _ in range(count):
                await one()
    return codes


async def health(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        except grpc.aio.AioRpcError:
            pass  # no token: UNAUTHENTICATED, the same small call either way


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pause", type=float, default=10.0, help="seconds idle before the end")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.chmod(home, 0o700)
        baseline, base_address = start(home)
        attacked, address = start(home)
        try:
            base0, att0 = rss_mib(baseline.pid), rss_mib(attacked.pid)
            print(f"{'phase':50} {'baseline':>10} {'attacked':>10} {'growth over baseline':>22}")
            print(f"{'started':50} {base0:8.1f}MB {att0:8.1f}MB {'':>22}")
            peak = 0.0
            for label, method, size, count, at_once in BURSTS:
                asyncio.run(health(base_address))
                codes = asyncio.run(burst(address, method, size, count, at_once))
                base, att = rss_mib(baseline.pid), rss_mib(attacked.pid)
                growth = (att - att0) - (base - base0)
                peak = max(peak, att)
                print(f"{label:50} {base:8.1f}MB {att:8.1f}MB {growth:+20.1f}MB  {codes}")
            time.sleep(args.pause)
            base, att = rss_mib(baseline.pid), rss_mib(attacked.pid)
            growth = (att - att0) - (base - base0)
            print(
                f"{f'after {args.pause:g} s idle':50} {base:8.1f}MB {att:8.1f}MB {growth:+20.1f}MB"
            )
            print(f"attacked peak {peak:.1f} MB; ratio to baseline at the end {att / base:.2f}x")
        finally:
            for server in (baseline, attacked):
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
