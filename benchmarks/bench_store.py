"""Run-record write throughput: FileStore vs PostgresStore (batched and one by one).

    .venv/bin/python benchmarks/bench_store.py [--records 5000] [--dsn URI]

Without ``--dsn`` a throwaway PostgreSQL is started (see tests/support/postgres.py).
Prints figures and ratios; asserts nothing (timings here are noisy).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from metalab._runstore.base import RunRecord  # noqa: E402
from metalab._runstore.file import FileStore  # noqa: E402
from metalab._runstore.locator import parse_locator  # noqa: E402


def records(experiment: str, n: int) -> list[RunRecord]:
    return [
        RunRecord(
            experiment,
            f"run{i:07d}",
            {"lr": 10.0 ** -(i % 5), "depth": i % 8},
            i,
            "completed",
            metrics={"loss": 1.0 / (i + 1), "acc": (i % 100) / 100},
            duration_s=0.5,
        )
        for i in range(n)
    ]


def rate(label: str, n: int, seconds: float) -> float:
    per_second = n / seconds
    print(f"  {label:<46} {n:>7} records in {seconds:7.3f}s = {per_second:>9.0f}/s")
    return per_second


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--dsn", help="postgresql://... (default: a throwaway server)")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    n = args.records
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-store-")))
        print(f"run-record writes, {n} records")
        store = FileStore(tmp / "files")
        t = time.perf_counter()
        store.write_runs(records("file", n))
        file_rate = rate("FileStore (atomic run.json each)", n, time.perf_counter() - t)

        dsn = args.dsn
        if dsn is None:
            from tests.support.postgres import throwaway_postgres

            server = stack.enter_context(throwaway_postgres())
            dsn = server.dsn(server.create_database())
        sep = "&" if "?" in dsn else "?"
        pg = parse_locator(f"{dsn}{sep}file_root={tmp / 'pgfiles'}").open()
        stack.callback(pg.close)
        batch = records("pgbatch", n)
        t = time.perf_counter()
        for start in range(0, n, args.batch):
            pg.index_runs(batch[start : start + args.batch])  # type: ignore[attr-defined]
        batched = rate(f"PostgreSQL index, batches of {args.batch}", n, time.perf_counter() - t)
        single_n = min(n, 1000)
        single = records("pgsingle", single_n)
        t = time.perf_counter()
        for record in single:
            pg.index_runs([record])  # type: ignore[attr-defined]
        one = rate(
            "PostgreSQL index, one transaction per record", single_n, time.perf_counter() - t
        )
        both_n = min(n, 2000)
        both = records("pgboth", both_n)
        t = time.perf_counter()
        for start in range(0, both_n, args.batch):
            pg.write_runs(both[start : start + args.batch])
        full = rate("PostgresStore.write_runs (files + index)", both_n, time.perf_counter() - t)
        print(
            f"ratios: PG batched / PG single = {batched / one:.1f}x; "
            f"PG batched / FileStore = {batched / file_rate:.1f}x; "
            f"files+index / FileStore = {full / file_rate:.2f}x"
        )
        print(
            f"target >= 2000 records/s into PostgreSQL with batching: "
            f"{'met' if batched >= 2000 else 'NOT met'} ({batched:.0f}/s)"
        )


if __name__ == "__main__":
    main()
