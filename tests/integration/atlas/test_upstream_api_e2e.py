"""End to end: a sweep run with the upstream-compatible API (``metalab.run``) into a FileStore
and into a PostgresStore, then read by a real Atlas process. Skipped where that API is not
installed (``metalab.runner``)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.atlas.server import running_atlas
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.timeout(180)


def sweep(store: str) -> None:
    """A 2×2 grid: one run fails, the others log, record a stepped metric and an artifact."""
    pytest.importorskip("metalab.runner")  # upstream's module paths, whatever ``metalab`` exports
    experiment_type: Any = importlib.import_module("metalab.experiment").Experiment
    operation: Any = importlib.import_module("metalab.operation").operation
    grid: Any = importlib.import_module("metalab.params").grid
    seeds: Any = importlib.import_module("metalab.seeds").seeds
    run: Any = importlib.import_module("metalab.runner").run

    def train(params: dict[str, Any], seeds: Any, capture: Any) -> None:
        capture.log(f"training lr={params['lr']}")
        if params["lr"] == 0.1 and params["depth"] == 4:
            raise RuntimeError("diverged")
        for step in range(3):
            capture.metric("loss", params["lr"] * (3 - step), step=step)
        capture.metric("final", params["lr"])
        capture.artifact("table", {"lr": params["lr"]})

    experiment = experiment_type(
        name="e2e",
        version="1",
        context={},
        operation=operation(train),
        params=grid(lr=[0.01, 0.1], depth=[2, 4]),
        seeds=seeds(base=1, replicates=1),
    )
    run(experiment, store=store).result()


def check(atlas_url: str, experiment_id: str) -> None:
    base = f"/api/experiments/{experiment_id}"
    with httpx.Client(base_url=atlas_url, timeout=10) as http:
        card = http.get(base).json()
        done = card["counts"].get("success", 0) + card["counts"].get("completed", 0)
        assert (done, card["counts"]["failed"], card["progress"]) == (3, 1, 1.0)
        assert card["fields"]["metrics"] == ["final"]
        runs = http.get(f"{base}/runs", params={"sort": "metrics.final"}).json()["runs"]
        failed = runs[-1]
        assert failed["error"] == "RuntimeError: diverged" and failed["metrics"] == {}
        run_id = runs[0]["run_id"]
        detail = http.get(f"{base}/runs/{run_id}").json()
        assert [a["name"] for a in detail["artifacts"]] == ["table"]
        assert "training lr=0.01" in http.get(f"{base}/runs/{run_id}/logs/run").text
        steps = http.get(f"{base}/runs/{run_id}/steps").json()["steps"]
        assert [s for s, _ in steps["loss"]] == [0, 1, 2]
        artifact = detail["artifacts"][0]["path"]
        assert http.get(f"{base}/runs/{run_id}/artifacts/{artifact}").status_code == 200


def test_file_store(tmp_path: Path) -> None:
    sweep(str(tmp_path / "store"))
    with running_atlas(str(tmp_path / "store"), tmp_path / "atlas.log") as atlas:
        check(atlas.url, "e2e_1")


def test_postgres_store(pg_server: PostgresServer, tmp_path: Path) -> None:
    locator = f"{pg_server.dsn(pg_server.create_database())}&file_root={tmp_path / 'files'}"
    sweep(locator)
    with running_atlas(locator, tmp_path / "atlas.log") as atlas:
        check(atlas.url, "e2e:1")
