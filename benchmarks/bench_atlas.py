"""Atlas with 100,000 runs: request latency on both stores, FileStore index build and update.

    .venv/bin/python -m benchmarks.bench_atlas [--runs 100000] [-n 30]
    .venv/bin/python -m benchmarks.bench_atlas --clients 50 [--runs 20000] [--store postgres]
    .venv/bin/python -m benchmarks.bench_atlas --curves [--runs 100000]

Writes one experiment of ``--runs`` runs in the FileStore format (10% failed, without metrics),
indexes the same files in a throwaway PostgreSQL (tests/support/postgres.py), starts
``python -m metalab_atlas`` on each and times, over real HTTP, the first page of the runs
table, a filtered + sorted page, a deep page, run detail and plot data (median and p95).
The HTTP figures are for an unchanged experiment (both sources cache answers per version of
the data); the cost of the first request after a change is measured in-process.
Targets (issue 7): p95 ≤ 100 ms on PostgreSQL, ≤ 300 ms on the file index.

Learning curves (`benchmarks.atlas_curves`): 1,000 of the runs carry 200 steps of ``loss``;
the curves request for them is timed over HTTP and the curves page in headless Chromium
(target, issue 19: the chart within 2 s of navigation); ``--curves`` measures only those.

``--clients N`` measures concurrent readers instead (`benchmarks.atlas_load`): 1, 10 and N
clients over real HTTP on one Atlas process (``--runs`` defaults to 20,000 then). Target
(issue 19): 50 clients at p95 ≤ 300 ms and 0 errors.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks import atlas_curves
from benchmarks._timing import summary
from benchmarks.atlas_load import concurrent_readers
from metalab._runstore.base import RunRecord
from metalab._runstore.locator import parse_locator
from metalab._runstore.postgres import PostgresStore
from metalab_atlas.fileindex import FileIndex
from metalab_atlas.pgsource import PostgresSource
from metalab_atlas.query import parse_query
from metalab_atlas.source import FileSource, VersionedCache
from tests.integration.atlas.server import running_atlas
from tests.support.postgres import throwaway_postgres

EXPERIMENT = "big"
LRS = (0.0001, 0.001, 0.01, 0.1, 1.0)
DEPTHS = (1, 2, 4, 8, 16, 32, 64, 128)


def make_records(n: int) -> list[RunRecord]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        lr, depth = LRS[i % len(LRS)], DEPTHS[(i // len(LRS)) % len(DEPTHS)]
        failed = rng.random() < 0.1
        loss = lr * depth + rng.random()
        out.append(
            RunRecord(
                EXPERIMENT,
                f"{i:020x}",
                {"lr": lr, "depth": depth, "width": rng.choice([64, 128, 256]), "rep": i // 40},
                i,
                "failed" if failed else "completed",
                created_at=f"2026-11-25T10:00:{i % 60:02d}.{i % 1000000:06d}Z",
                duration_s=rng.random() * 10,
                metrics={} if failed else {"loss": loss, "acc": 1 / (1 + loss)},
                error="ValueError: diverged" if failed else None,
                host=f"cn{i % 16:03d}",
            )
        )
    return out


def write_files(root: Path, records: list[RunRecord]) -> None:
    """The FileStore layout (docs/store-format.md), without fsync: a benchmark fixture."""
    base = root / EXPERIMENT
    (base / "runs").mkdir(parents=True)
    spec = {
        "schema": "metalab.experiment/1",
        "experiment_id": EXPERIMENT,
        "name": EXPERIMENT,
        "operation": "bench:op",
        "params": {"grid": {"lr": list(LRS), "depth": list(DEPTHS)}},
        "total_runs": len(records),
    }
    (base / "experiment.json").write_text(json.dumps(spec))
    for r in records:
        directory = base / "runs" / r.run_id
        directory.mkdir()
        (directory / "run.json").write_text(json.dumps(r.to_json(), indent=1, sort_keys=True))


def index_in_postgres(locator: str, records: list[RunRecord]) -> None:
    store = parse_locator(locator).open()
    assert isinstance(store, PostgresStore)
    try:
        store._index_experiment(
            {"experiment_id": EXPERIMENT, "operation": "bench:op"}, len(records)
        )
        for start in range(0, len(records), 5000):
            store.index_runs(records[start : start + 5000])
        atlas_curves.index_steps(store, EXPERIMENT)
        # what autovacuum does after a bulk load (index-only scans need the visibility map);
        # done here, it does not run during the measurements
        store.conn.execute("VACUUM ANALYZE runs, run_values, metric_steps")
    finally:
        store.close()


def requests(n_runs: int) -> dict[str, Callable[[httpx.Client], httpx.Response]]:
    runs = f"/api/experiments/{EXPERIMENT}/runs"
    return {
        "runs: first page": lambda c: c.get(runs),
        "runs: filtered + sorted page": lambda c: c.get(
            runs,
            params=[
                ("status", "completed"),
                ("where", "params.lr:eq:0.01"),
                ("where", "metrics.loss:gt:0.5"),
                ("sort", "metrics.loss"),
                ("order", "desc"),
            ],
        ),
        "runs: deep page (sorted by a metric)": lambda c: c.get(
            runs, params={"sort": "metrics.acc", "offset": n_runs - 1000, "limit": 50}
        ),
        "runs: search": lambda c: c.get(runs, params={"q": "cn007", "sort": "duration_s"}),
        "run detail": lambda c: c.get(f"{runs}/{(n_runs // 2):020x}"),
        "plot data (lr x loss by depth)": lambda c: c.get(
            f"/api/experiments/{EXPERIMENT}/plot",
            params={"x": "params.lr", "y": "metrics.loss", "group": "params.depth"},
        ),
    }


def measure(url: str, label: str, n: int, n_runs: int) -> None:
    print(f"{label} ({n} requests each, real HTTP)")
    with httpx.Client(base_url=url, timeout=120) as http:
        for name, call in requests(n_runs).items():
            first = call(http)
            assert first.status_code == 200, first.text
            samples = []
            for _ in range(n):
                started = time.perf_counter()
                response = call(http)
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200
            print("  " + summary(name, samples))


def index_figures(root: Path, n_runs: int) -> None:
    index = FileIndex(root)
    build = index.refresh()
    print(f"file index: build {build.seconds:.2f} s for {build.runs} runs ({build.parsed} parsed)")
    idle = [index.refresh().seconds for _ in range(5)]
    print("  " + summary("full refresh (stat all), nothing changed", idle))
    light = [index.refresh(full=False).seconds for _ in range(5)]
    print("  " + summary("light refresh (completed skipped)", light))
    runs = root / EXPERIMENT / "runs"
    touched = []
    for step in range(5):
        for i in range(100):
            path = runs / f"{(i * 997 + step) % n_runs:020x}" / "run.json"
            data = json.loads(path.read_text())
            data["attempt"] = data.get("attempt", 1) + 1
            path.write_text(json.dumps(data, indent=1, sort_keys=True))
        stats = index.refresh()
        assert stats.parsed == 100, stats
        touched.append(stats.seconds)
    print("  " + summary("full refresh, 100 runs changed", touched))


def refreshed(source: FileSource) -> None:
    """Refresh the file index as the Atlas process does (`IndexRefresher` with
    ``freeze_gc``): what it parsed is moved out of the cyclic GC's reach."""
    if source.index.refresh().parsed:
        gc.freeze()


def cold_queries(n_runs: int, i: int) -> dict[str, dict[str, Any]]:
    """The benchmark's queries, varied by ``i`` (thresholds, offsets, search text, sort
    direction) so that no two samples ask the same question."""
    return {
        "runs: first page": {"offset": 50 * i},
        "runs: filtered + sorted page": {
            "status": "completed",
            "where": [f"params.lr:eq:{LRS[i % len(LRS)]}", f"metrics.loss:gt:{0.3 + i / 50}"],
            "sort": "metrics.loss",
            "order": ("desc", "asc")[i % 2],
        },
        "runs: deep page (sorted by a metric)": {
            "sort": ("metrics.acc", "metrics.loss")[i % 2],
            "order": ("asc", "desc")[(i // 2) % 2],
            "offset": n_runs - 1000 - 37 * i,
        },
        "runs: search": {
            "q": f"cn00{i % 10}",
            "sort": "duration_s",
            "order": ("asc", "desc")[i % 2],
        },
    }


PLOTS = [
    ("params.lr", "metrics.loss", "params.depth"),
    ("params.depth", "metrics.acc", "params.lr"),
    ("params.width", "metrics.loss", ""),
    ("params.lr", "metrics.acc", "params.width"),
]


def uncached_figures(source: FileSource | PostgresSource, label: str, n: int, n_runs: int) -> None:
    """What the first request after a change costs: the per-version answer caches start
    empty, and every sample asks a different question."""
    fields = source.fields(EXPERIMENT)
    print(f"{label}, first request after a change (in-process, caches empty, n={n})")
    for name in cold_queries(n_runs, 0):
        samples = []
        for i in range(n):
            kwargs: dict[str, Any] = {"where": [], **cold_queries(n_runs, i)[name]}
            query = parse_query(fields, **kwargs)
            source.cache = VersionedCache()
            started = time.perf_counter()
            source.runs(EXPERIMENT, query)
            samples.append(time.perf_counter() - started)
        print("  " + summary(name, samples))
    samples = []
    for i in range(n):
        x, y, g = PLOTS[i % len(PLOTS)]
        group = fields.resolve(g) if g else None
        source.cache = VersionedCache()
        started = time.perf_counter()
        source.plot(
            EXPERIMENT, parse_query(fields, where=[]), fields.resolve(x), fields.resolve(y), group
        )
        samples.append(time.perf_counter() - started)
    print("  " + summary("plot data (4 x/y/group combinations)", samples))


def first_use_figures(source: FileSource, n: int, n_runs: int) -> None:
    """The file index's columns of values dropped too (as when runs were added): the first
    query of its fields rebuilds them."""
    fields = source.fields(EXPERIMENT)
    print(f"FileStore, caches empty and index columns dropped (in-process, n={n})")
    for name in ("runs: filtered + sorted page", "runs: deep page (sorted by a metric)"):
        samples = []
        for i in range(n):
            kwargs: dict[str, Any] = {"where": [], **cold_queries(n_runs, i)[name]}
            query = parse_query(fields, **kwargs)
            source.cache = VersionedCache()
            source.index.forget_columns()
            started = time.perf_counter()
            source.runs(EXPERIMENT, query)
            samples.append(time.perf_counter() - started)
        print("  " + summary(name, samples))


def after_changes_figures(root: Path, n: int, n_runs: int) -> None:
    """The next request after a refresh that saw 100 changed runs (caches warm before)."""
    source = FileSource(root)
    refreshed(source)
    fields = source.fields(EXPERIMENT)
    queries = {
        "runs: filtered + sorted page": parse_query(
            fields,
            where=["params.lr:eq:0.01", "metrics.loss:gt:0.5"],
            status="completed",
            sort="metrics.loss",
            order="desc",
        ),
        "runs: deep page (sorted by a metric)": parse_query(
            fields, where=[], sort="metrics.acc", offset=n_runs - 1000
        ),
    }
    runs = root / EXPERIMENT / "runs"
    samples: dict[str, list[float]] = {name: [] for name in queries}
    for step in range(n):
        for query in queries.values():
            source.runs(EXPERIMENT, query)
        for i in range(100):
            path = runs / f"{(i * 991 + step * 7) % n_runs:020x}" / "run.json"
            data = json.loads(path.read_text())
            data["metrics"] = {"loss": step + i / 100, "acc": 1 / (2 + step + i)}
            path.write_text(json.dumps(data, indent=1, sort_keys=True))
        refreshed(source)
        for name, query in queries.items():
            started = time.perf_counter()
            source.runs(EXPERIMENT, query)
            samples[name].append(time.perf_counter() - started)
    print(f"FileStore, next request after 100 runs changed (in-process, n={n})")
    for name, values in samples.items():
        print("  " + summary(name, values))


def clients_figures(n_runs: int, clients: int, store: str, per_client: int) -> None:
    """Concurrent readers (`benchmarks.atlas_load`) on each store asked for."""
    base = Path(tempfile.mkdtemp(prefix="metalab-bench-atlas-", dir="/tmp"))
    base.chmod(0o755)
    levels = sorted({1, 10, clients})
    try:
        records = make_records(n_runs)
        root = base / "files"
        write_files(root, records)
        if store in ("file", "both"):
            with running_atlas(str(root), base / "atlas-file.log", extra=()) as atlas:
                print(f"FileStore, {n_runs} runs: concurrent readers (closed loop, real HTTP)")
                concurrent_readers(atlas.url, EXPERIMENT, n_runs, levels, per_client)
        if store in ("postgres", "both"):
            with throwaway_postgres() as server:
                locator = f"{server.dsn(server.create_database())}&file_root={root}"
                index_in_postgres(locator, records)
                with running_atlas(locator, base / "atlas-pg.log", extra=()) as atlas:
                    print(f"PostgreSQL, {n_runs} runs: concurrent readers (closed loop, real HTTP)")
                    concurrent_readers(atlas.url, EXPERIMENT, n_runs, levels, per_client)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def curves_only(n_runs: int, n: int) -> None:
    """`benchmarks.atlas_curves` on both stores, at ``n_runs`` runs."""
    base = Path(tempfile.mkdtemp(prefix="metalab-bench-atlas-", dir="/tmp"))
    base.chmod(0o755)
    try:
        records = make_records(n_runs)
        root = base / "files"
        write_files(root, records)
        atlas_curves.write_step_files(root, EXPERIMENT)
        with running_atlas(str(root), base / "atlas-file.log", extra=()) as atlas:
            atlas_curves.figures(atlas.url, EXPERIMENT, f"FileStore, {n_runs} runs", n)
        with throwaway_postgres() as server:
            locator = f"{server.dsn(server.create_database())}&file_root={root}"
            index_in_postgres(locator, records)
            with running_atlas(locator, base / "atlas-pg.log", extra=()) as atlas:
                atlas_curves.figures(atlas.url, EXPERIMENT, f"PostgreSQL, {n_runs} runs", n)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=0, help="100,000 (20,000 with --clients)")
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--clients", type=int, default=0, help="concurrent readers instead")
    parser.add_argument("--store", choices=("file", "postgres", "both"), default="postgres")
    parser.add_argument("--per-client", type=int, default=40, help="requests per client")
    parser.add_argument("--curves", action="store_true", help="learning-curve figures only")
    args = parser.parse_args()
    if args.clients:
        clients_figures(args.runs or 20_000, args.clients, args.store, args.per_client)
        return
    args.runs = args.runs or 100_000
    if args.curves:
        curves_only(args.runs, min(args.n, 10))
        return
    base = Path(tempfile.mkdtemp(prefix="metalab-bench-atlas-", dir="/tmp"))
    base.chmod(0o755)
    try:
        records = make_records(args.runs)
        root = base / "files"
        started = time.perf_counter()
        write_files(root, records)
        atlas_curves.write_step_files(root, EXPERIMENT)
        print(f"wrote {args.runs} run files in {time.perf_counter() - started:.1f} s")
        index_figures(root, args.runs)
        files = FileSource(root)
        refreshed(files)
        uncached_figures(files, "FileStore", min(args.n, 20), args.runs)
        first_use_figures(files, min(args.n, 20), args.runs)
        after_changes_figures(root, min(args.n, 20), args.runs)
        with running_atlas(str(root), base / "atlas-file.log", extra=()) as atlas:
            measure(atlas.url, "FileStore (in-memory incremental index)", args.n, args.runs)
            atlas_curves.figures(atlas.url, EXPERIMENT, "FileStore", min(args.n, 10))
        with throwaway_postgres() as server:
            locator = f"{server.dsn(server.create_database())}&file_root={root}"
            started = time.perf_counter()
            index_in_postgres(locator, records)
            print(
                f"indexed {args.runs} runs in PostgreSQL in {time.perf_counter() - started:.1f} s"
            )
            postgres = PostgresSource(locator)
            try:
                uncached_figures(postgres, "PostgresStore", min(args.n, 20), args.runs)
            finally:
                postgres.close()
            with running_atlas(locator, base / "atlas-pg.log", extra=()) as atlas:
                measure(atlas.url, "PostgresStore (indexed SQL)", args.n, args.runs)
                atlas_curves.figures(atlas.url, EXPERIMENT, "PostgresStore", min(args.n, 10))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
