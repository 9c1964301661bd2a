"""metalab.run into a PostgreSQL store, with real worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metalab.capture import Capture
from metalab.executor.process import ProcessExecutor
from metalab.experiment import Experiment
from metalab.operation import operation
from metalab.params import grid
from metalab.runner import run
from metalab.seeds import seeds
from tests.support.components import postgres_missing, require
from tests.support.postgres import PostgresServer, throwaway_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    require(postgres_missing())
    pytest.importorskip("psycopg")
    with throwaway_postgres() as server:
        yield server


@operation
def square(params: dict[str, Any], capture: Capture) -> None:
    capture.metric("y", params["x"] ** 2)
    capture.log(f"squared {params['x']}")


def test_process_workers_write_to_postgres_and_resume(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    dsn = postgres.dsn(postgres.create_database())
    exp = Experiment(
        name="pg",
        version="1",
        context={},
        operation=square,
        params=grid(x=[1, 2, 3]),
        seeds=seeds(base=4, replicates=2),
    )
    files = str(tmp_path / "files")
    with ProcessExecutor(max_workers=2) as executor:
        handle = run(exp, store=dsn, file_root=files, executor=executor, verbose=False)
        results = handle.result()
        again = run(exp, store=dsn, file_root=files, executor=executor, verbose=False)
        again.result()
    stores: list[Any] = [handle.store, again.store]
    try:
        assert sorted(r.metrics["y"] for r in results) == [1, 1, 4, 4, 9, 9]
        assert again.status.skipped == 6
        logs = "".join(handle.store.get_log(r.run_id, "run") or "" for r in results)
        assert "squared 2" in logs
    finally:
        for store in stores:
            store.close()
