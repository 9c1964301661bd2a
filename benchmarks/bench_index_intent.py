"""What announcing each index write costs a PostgresStore writer (docs/slurm-backend.md).

Every record a PostgresStore writes is announced in its process's intent journal before its
files and settled once the index has it (metalab.core.intent_journal). This measures, with the
journal (the store as shipped) and without (a baseline whose backlog skips it), alternating
A B B A in one process: N run records put one by one into a real PostgreSQL store (per-record
medians), and with ``--sweep`` a whole no-op ``metalab.run`` sweep of N runs in-process (wall
medians). Prints the ratio; asserts nothing.

    python -m benchmarks.bench_index_intent [--records 500] [--sweep] [-n 4] [--dsn URI]

Without ``--dsn`` a throwaway PostgreSQL is started (tests/support/postgres.py).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import metalab
from metalab.store import PostgresStore, PostgresStoreConfig, parse_to_config
from metalab.store.index_backlog import IndexBacklog
from tests.support.records import success_record


class UnannouncedBacklog(IndexBacklog):
    """The baseline: index writes are not announced (what a store did before the journal)."""

    def intend(self, kind: str, key: str, experiment_id: str = "") -> int:
        return 0

    def settle(self, ident: int) -> None:
        return None


def open_store(dsn: str, root: Path, experiment_id: str) -> PostgresStore:
    config = parse_to_config(f"{dsn}&file_root={root}", experiment_id=experiment_id)
    assert isinstance(config, PostgresStoreConfig)
    return config.connect()


@contextmanager
def journal(baseline: bool) -> Iterator[None]:
    """The store as shipped, or (``baseline``) every backlog skipping the journal."""
    if not baseline:
        yield
        return
    with (
        mock.patch.object(IndexBacklog, "intend", UnannouncedBacklog.intend),
        mock.patch.object(IndexBacklog, "settle", UnannouncedBacklog.settle),
    ):
        yield


def seconds_per_record(dsn: str, records: int, baseline: bool, sample: int) -> float:
    experiment_id = f"intent{sample}:{'base' if baseline else 'ours'}"
    with (
        journal(baseline),
        tempfile.TemporaryDirectory(prefix="bench-intent-") as tmp,
        open_store(dsn, Path(tmp), experiment_id) as store,
    ):
        batch = [success_record(experiment_id, i) for i in range(records)]
        started = time.perf_counter()
        for record in batch:
            store.put_run_record(record)
        return (time.perf_counter() - started) / records


@metalab.operation
def noop(params: dict[str, Any], capture: Any) -> None:
    capture.metric("x", params["i"])


def sweep_seconds(dsn: str, runs: int, baseline: bool, sample: int) -> float:
    experiment = metalab.Experiment(
        name=f"intent{sample}",
        version="1",
        context={},
        operation=noop,
        params=metalab.grid(i=list(range(max(1, runs // 10)))),
        seeds=metalab.seeds(base=1, replicates=10),
    )
    with journal(baseline), tempfile.TemporaryDirectory(prefix="bench-intent-") as tmp:
        started = time.perf_counter()
        results = metalab.run(experiment, store=f"{dsn}&file_root={tmp}", verbose=False).result()
        elapsed = time.perf_counter() - started
    assert len(results) == max(1, runs // 10) * 10
    return elapsed


def order(n: int) -> Iterator[bool]:
    """A B B A …: True is the baseline."""
    for i in range(n):
        yield from ((True, False) if i % 2 == 0 else (False, True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--sweep", action="store_true", help="time a metalab.run sweep")
    parser.add_argument("-n", type=int, default=4, help="samples of each")
    parser.add_argument("--dsn", help="a PostgreSQL URI (default: a throwaway server)")
    args = parser.parse_args()
    with ExitStack() as stack:
        dsn = args.dsn
        if dsn is None:
            from tests.support.postgres import throwaway_postgres

            server = stack.enter_context(throwaway_postgres())
            dsn = server.dsn(server.create_database())
        measure = sweep_seconds if args.sweep else seconds_per_record
        measure(dsn, 50, False, -1)  # warm-up: schema, pool, page cache
        samples: dict[bool, list[float]] = {True: [], False: []}
        for i, baseline in enumerate(order(args.n)):
            samples[baseline].append(measure(dsn, args.records, baseline, i))
    base, ours = (statistics.median(samples[b]) for b in (True, False))
    what, unit, scale = (
        ("a no-op sweep of", "s", 1.0) if args.sweep else ("one by one:", "ms/record", 1e3)
    )
    print(f"{args.records} records, {what} n={args.n} each, A B B A")
    print(f"  without the journal  {base * scale:8.3f} {unit}")
    print(f"  with the journal     {ours * scale:8.3f} {unit}  ({ours / base:.3f}x)")
    paired = [o / b for b, o in zip(samples[True], samples[False], strict=True)]
    print(f"  paired ratios    {', '.join(f'{r:.2f}' for r in paired)}")


if __name__ == "__main__":
    main()
