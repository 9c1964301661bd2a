"""Atlas's file index and HTTP answers on the project's layout and on upstream metalab's, the
same runs in both, measured in the same process run.

    .venv/bin/python -m benchmarks.bench_atlas_layouts [--runs 10000] [-n 30]

Writes ``--runs`` runs (bench_atlas's records: 10% failed) once per layout — the project's
``runs/{run_id}/run.json`` and upstream's ``runs/{run_id}.json`` (pretty-printed, with
provenance and fingerprints, as upstream writes them) plus ``derived/{run_id}.json`` for every
tenth run — then times the index (build, full and light refresh with nothing changed and with
100 runs changed) and, over real HTTP from ``python -m metalab_atlas``, the runs-table pages,
run detail and plot data (median and p95).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks._timing import summary
from benchmarks.bench_atlas import EXPERIMENT, LRS, make_records, write_files
from metalab._runstore.base import RunRecord
from metalab_atlas.fileindex import SETTLE_NS, FileIndex
from tests.integration.atlas.server import running_atlas
from tests.integration.atlas.upstream_data import (
    record,
    write_derived,
    write_experiment,
    write_run,
)

Layout = tuple[str, str, str]  # name, the done status, the run file of run id {}


def upstream_id(r: RunRecord) -> str:
    return r.run_id[-16:]


def write_upstream(root: Path, records: list[RunRecord]) -> None:
    base = write_experiment(root, EXPERIMENT, len(records))
    for i, r in enumerate(records):
        run_id = upstream_id(r)
        status = "success" if r.status == "completed" else r.status
        data = record(EXPERIMENT, run_id, r.params, r.metrics, status, error=r.error, host=r.host)
        data["duration_ms"] = int((r.duration_s or 0) * 1000)
        write_run(base, data)
        if i % 10 == 0 and r.metrics:
            write_derived(base, run_id, {"loss_x2": 2 * r.metrics["loss"]})


def run_file(root: Path, layout: str, run_id: str) -> Path:
    if layout == "upstream":
        return root / EXPERIMENT / "runs" / f"{run_id}.json"
    return root / EXPERIMENT / "runs" / run_id / "run.json"


def index_figures(root: Path, layout: str, ids: list[str]) -> None:
    index = FileIndex(root)
    build = index.refresh()
    print(f"  index build {build.seconds:.2f} s for {build.runs} runs ({build.parsed} parsed)")
    idle = [index.refresh().seconds for _ in range(5)]
    print("  " + summary("full refresh (stat all), nothing changed", idle))
    time.sleep(SETTLE_NS / 1e9)  # the steady state: runs/ settled, nothing to list
    light = [index.refresh(full=False).seconds for _ in range(5)]
    print("  " + summary("light refresh, nothing changed", light))
    for full in (True, False):
        touched, parsed = [], 0
        for step in range(5):
            for i in range(100):
                path = run_file(root, layout, ids[(i * 997 + step) % len(ids)])
                data = json.loads(path.read_text())
                data["notes" if layout == "upstream" else "host"] = f"changed {step}"
                temporary = path.with_name(f".{path.name}.tmp")
                temporary.write_text(json.dumps(data, indent=2, sort_keys=True))
                temporary.rename(path)
            stats = index.refresh(full=full)
            assert stats.parsed >= 100 or not full, stats
            touched.append(stats.seconds)
            parsed += stats.parsed
        kind = "full" if full else "light"
        print("  " + summary(f"{kind} refresh, 100 runs changed", touched) + f"  parsed {parsed}")


def requests(
    status: str, detail_id: str, n_runs: int
) -> dict[str, Callable[[httpx.Client], httpx.Response]]:
    runs = f"/api/experiments/{EXPERIMENT}/runs"
    return {
        "runs: first page": lambda c: c.get(runs),
        "runs: filtered + sorted page": lambda c: c.get(
            runs,
            params=[
                ("status", status),
                ("where", f"params.lr:eq:{LRS[2]}"),
                ("where", "metrics.loss:gt:0.5"),
                ("sort", "metrics.loss"),
                ("order", "desc"),
            ],
        ),
        "runs: deep page (sorted by a metric)": lambda c: c.get(
            runs, params={"sort": "metrics.acc", "offset": n_runs - 1000, "limit": 50}
        ),
        "runs: search": lambda c: c.get(runs, params={"q": "cn007", "sort": "duration_s"}),
        "run detail": lambda c: c.get(f"{runs}/{detail_id}"),
        "plot data (lr x loss by depth)": lambda c: c.get(
            f"/api/experiments/{EXPERIMENT}/plot",
            params={"x": "params.lr", "y": "metrics.loss", "group": "params.depth"},
        ),
    }


def measure(url: str, status: str, detail_id: str, n: int, n_runs: int) -> None:
    with httpx.Client(base_url=url, timeout=120) as http:
        for name, call in requests(status, detail_id, n_runs).items():
            first = call(http)
            assert first.status_code == 200, first.text
            samples = []
            for _ in range(n):
                started = time.perf_counter()
                response = call(http)
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200
            print("  " + summary(name, samples))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("-n", type=int, default=30)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="metalab-bench-layouts-", dir="/tmp"))
    try:
        records = make_records(args.runs)
        for layout in ("project", "upstream"):
            root = base / layout
            started = time.perf_counter()
            if layout == "upstream":
                write_upstream(root, records)
                ids, status = [upstream_id(r) for r in records], "success"
            else:
                write_files(root, records)
                ids, status = [r.run_id for r in records], "completed"
            size = sum(p.stat().st_size for p in (root / EXPERIMENT / "runs").rglob("*.json"))
            print(
                f"{layout} layout: wrote {args.runs} runs in {time.perf_counter() - started:.1f} s"
                f" ({size / args.runs:.0f} bytes per run record)"
            )
            index_figures(root, layout, ids)
            with running_atlas(str(root), base / f"atlas-{layout}.log", extra=()) as atlas:
                measure(atlas.url, status, ids[len(ids) // 2], args.n, args.runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
