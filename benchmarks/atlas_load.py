"""Concurrent readers of Atlas: ``python -m benchmarks.bench_atlas --clients 50``.

Each client is a closed loop (the next request when the last answered, no think time) over a
random mix of what people do in the runs table and the charts: browse pages (4 sort fields,
both directions, the first 10 pages), filter (status, ``lr =``, ``loss >``), jump to deep
pages, search, open a run, draw a plot. About 170 distinct questions plus a different run
detail every time; the clients share one Atlas process, and the load generator (asyncio,
one thread) runs on the same machine. Every request is counted, the first ones (empty
caches) included. Reports median, p95, max, errors and requests per second.

The clients speak HTTP/1.1 over one keep-alive connection each, with asyncio streams: httpx's
async client costs ~5 ms of this machine's CPU per request at 50 connections (measured
against a trivial route: 177 requests/s with httpx, 1,664 with these clients), which would
be the load generator's latency, not Atlas's.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

Request = tuple[str, str, list[tuple[str, str]]]  # (kind, path, params)
SORTS = ("run_id", "metrics.loss", "params.lr", "duration_s")
LRS = ("0.0001", "0.001", "0.01", "0.1", "1.0")


def mix(experiment: str, n_runs: int) -> Callable[[random.Random], Request]:
    """A random request of the mix, for a client's random number generator."""
    runs = f"/api/experiments/{experiment}/runs"
    plots = [
        ("params.lr", "metrics.loss", "params.depth"),
        ("params.depth", "metrics.acc", "params.lr"),
        ("params.width", "metrics.loss", ""),
        ("params.lr", "metrics.acc", "params.width"),
    ]

    def pick(rng: random.Random) -> Request:
        roll = rng.random()
        if roll < 0.30:
            return (
                "list",
                runs,
                [
                    ("sort", rng.choice(SORTS)),
                    ("order", rng.choice(("asc", "desc"))),
                    ("offset", str(50 * rng.randrange(10))),
                ],
            )
        if roll < 0.45:
            return (
                "filter",
                runs,
                [
                    ("status", "completed"),
                    ("where", f"params.lr:eq:{rng.choice(LRS)}"),
                    ("where", f"metrics.loss:gt:{rng.choice(('0.5', '1', '2'))}"),
                    ("sort", "metrics.loss"),
                    ("order", "desc"),
                ],
            )
        if roll < 0.60:
            return (
                "deep",
                runs,
                [
                    ("sort", rng.choice(("metrics.acc", "metrics.loss"))),
                    ("order", rng.choice(("asc", "desc"))),
                    ("offset", str(max(0, n_runs - 1000 - 50 * rng.randrange(5)))),
                ],
            )
        if roll < 0.75:
            return "search", runs, [("q", f"cn{rng.randrange(16):03d}"), ("sort", "duration_s")]
        if roll < 0.90:
            return "detail", f"{runs}/{rng.randrange(n_runs):020x}", []
        x, y, g = rng.choice(plots)
        params = [("x", x), ("y", y)] + ([("group", g)] if g else [])
        return "plot", f"/api/experiments/{experiment}/plot", params

    return pick


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str) -> int:
    """One GET on a keep-alive connection; the status (the body is read and dropped)."""
    writer.write(f"GET {target} HTTP/1.1\r\nHost: atlas\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    sizes = [int(v.split(":", 1)[1]) for v in lines if v.lower().startswith("content-length:")]
    if not sizes:
        raise ValueError("a response without Content-Length")
    await reader.readexactly(sizes[0])
    return int(lines[0].split()[1])


async def _client(
    url: str,
    pick: Callable[[random.Random], Request],
    seed: int,
    count: int,
    out: list[tuple[str, float, bool]],
) -> None:
    rng = random.Random(seed)
    address = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        for _ in range(count):
            kind, path, params = pick(rng)
            target = f"{path}?{urllib.parse.urlencode(params)}" if params else path
            started = time.perf_counter()
            try:
                ok = await asyncio.wait_for(_get(reader, writer, target), 60) == 200
            except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
                ok = False
            out.append((kind, time.perf_counter() - started, ok))
            if not ok:
                writer.close()
                reader, writer = await asyncio.open_connection(address.hostname, address.port)
    finally:
        writer.close()


async def _load(
    url: str, pick: Callable[[random.Random], Request], clients: int, count: int
) -> tuple[list[tuple[str, float, bool]], float]:
    out: list[tuple[str, float, bool]] = []
    started = time.perf_counter()
    await asyncio.gather(*(_client(url, pick, seed, count, out) for seed in range(clients)))
    return out, time.perf_counter() - started


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def report(label: str, samples: list[tuple[str, float, bool]], seconds: float) -> dict[str, Any]:
    times = [t for _, t, _ in samples]
    errors = sum(1 for _, _, ok in samples if not ok)
    figures = {
        "median": statistics.median(times),
        "p95": _p95(times),
        "max": max(times),
        "errors": errors,
        "rate": len(samples) / seconds,
    }
    ms = {k: figures[k] * 1000 for k in ("median", "p95", "max")}
    print(
        f"  {label:<12} median {ms['median']:7.1f} ms  p95 {ms['p95']:7.1f} ms"
        f"  max {ms['max']:7.1f} ms  errors {errors}  {figures['rate']:6.1f} req/s"
        f"  (n={len(samples)})"
    )
    kinds = sorted({k for k, _, _ in samples})
    per_kind = "  ".join(
        f"{k} {_p95([t for kk, t, _ in samples if kk == k]) * 1000:.0f}" for k in kinds
    )
    print(f"  {'':<12} p95 by kind (ms): {per_kind}")
    return figures


def concurrent_readers(
    url: str, experiment: str, n_runs: int, levels: list[int], per_client: int
) -> dict[int, dict[str, Any]]:
    """The mix at each number of clients; returns the figures per level."""
    pick = mix(experiment, n_runs)
    found: dict[int, dict[str, Any]] = {}
    for clients in levels:
        count = max(per_client, 400 // clients)
        samples, seconds = asyncio.run(_load(url, pick, clients, count))
        found[clients] = report(f"{clients} client{'s' if clients > 1 else ''}", samples, seconds)
    return found
