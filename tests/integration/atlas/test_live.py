"""Runs written while Atlas is up show up, new metric names become sortable at once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from metalab._runstore.base import RunRecord, Store
from metalab._runstore.file import FileStore
from metalab._runstore.locator import parse_locator
from tests.integration.atlas.server import running_atlas
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.timeout(120)
PATIENCE = 30.0  # an upper bound for the index refresher, not a performance assertion


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < deadline, "Atlas never showed the change"
        time.sleep(0.05)


@pytest.fixture(params=["file", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Store]]:
    if request.param == "file":
        locator = str(tmp_path / "runs")
        store: Store = FileStore(Path(locator))
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        locator = f"{server.dsn(server.create_database())}&file_root={tmp_path / 'files'}"
        store = parse_locator(locator).open()
    try:
        yield locator, store
    finally:
        store.close()


def test_new_runs_and_new_metric_names_appear_while_atlas_runs(
    live: tuple[str, Store], tmp_path: Path
) -> None:
    locator, store = live
    store.put_experiment({"experiment_id": "grow", "name": "grow", "operation": "m:f"}, 3)
    first = RunRecord("grow", "a" * 20, {"x": 1}, 1, "running")
    store.begin_run(first)
    with (
        running_atlas(locator, tmp_path / "atlas.log") as atlas,
        httpx.Client(base_url=atlas.url) as http,
    ):
        runs = "/api/experiments/grow/runs"
        assert http.get(runs).json()["total"] == 1
        first.status, first.metrics = "completed", {"late_metric": 2.5}
        store.write_run(first)
        second = RunRecord("grow", "b" * 20, {"x": 2}, 2, "completed", metrics={"late_metric": 1})
        store.write_run(second)

        def sorted_by_new_metric() -> bool:
            response = http.get(runs, params={"sort": "metrics.late_metric"})
            ids = [r["run_id"] for r in response.json().get("runs", [])]
            return response.status_code == 200 and ids == ["b" * 20, "a" * 20]

        eventually(sorted_by_new_metric)
        first.metrics = {"late_metric": 0.5}  # an update alone: same number of runs
        store.write_run(first)

        def reordered() -> bool:
            response = http.get(runs, params={"sort": "metrics.late_metric"})
            return [r["run_id"] for r in response.json()["runs"]] == ["a" * 20, "b" * 20]

        eventually(reordered)
        overview = http.get("/api/experiments").json()["experiments"][0]
        assert overview["counts"] == {"completed": 2} and overview["pending"] == 1
