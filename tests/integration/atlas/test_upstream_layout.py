"""Atlas over HTTP on a store written by upstream metalab (tests/fixtures/upstream_layout),
next to an experiment in the project's own layout in the same root."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from metalab._runstore.base import RunRecord
from metalab._runstore.file import FileStore
from metalab._runstore.locator import parse_locator
from metalab._runstore.postgres import PostgresStore
from metalab_atlas.upstream import normalize
from tests.integration.atlas.dataset import populate
from tests.integration.atlas.server import running_atlas
from tests.integration.atlas.upstream_data import record, write_derived, write_run
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.timeout(120)
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "upstream_layout"
EXPERIMENT = "sweep_0.1"
BASE = f"/api/experiments/{EXPERIMENT}"
DONE, FAILED = "4ddead34ed4552cc", "7c36d21754ff5bb5"  # lr 0.01 depth 2; lr 0.1 depth 4
PATIENCE = 30.0  # an upper bound for the index refresher, not a performance assertion


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mixed") / "store"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("README.md", ".gitignore"))
    populate(FileStore(root))
    return root


@pytest.fixture(scope="module")
def client(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("atlas") / "atlas.log"
    with (
        running_atlas(str(root), log) as atlas,
        httpx.Client(base_url=atlas.url, timeout=10) as http,
    ):
        yield http


def eventually(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < deadline, "Atlas never showed the change"
        time.sleep(0.05)


def test_overview_comes_from_the_newest_manifest(client: httpx.Client) -> None:
    cards = {e["experiment_id"]: e for e in client.get("/api/experiments").json()["experiments"]}
    assert set(cards) == {EXPERIMENT, "sweep", "other"}
    card = cards[EXPERIMENT]
    assert card["name"] == "sweep" and card["operation"] == "__main__:train"
    assert card["description"] == "upstream layout fixture" and card["tags"] == ["fixture"]
    assert card["counts"] == {"success": 3, "failed": 1}
    assert (card["total_runs"], card["runs"], card["pending"], card["progress"]) == (4, 4, 0, 1.0)
    assert card["created_at"].startswith("2026-")
    assert cards["sweep"]["counts"]["completed"] > 0  # the project's own layout, as before

    detail = client.get(BASE).json()
    assert detail["spec"]["params"]["type"] == "GridSource"
    assert detail["fields"]["params"] == ["depth", "lr"]
    assert detail["fields"]["metrics"] == ["acc", "final_loss", "loss_x2"]


def test_runs_table_filters_sorts_and_searches(client: httpx.Client) -> None:
    runs = f"{BASE}/runs"
    page = client.get(runs, params={"status": "success", "sort": "metrics.final_loss"}).json()
    assert page["total"] == 3
    assert [r["params"]["lr"] for r in page["runs"]] == [0.1, 0.01, 0.01]
    top = page["runs"][0]
    assert top["metrics"]["loss_x2"] == pytest.approx(2 * top["metrics"]["final_loss"])
    assert top["seed"] == "bc84d675ff188232" and top["attempt"] is None

    lr = client.get(runs, params={"where": "params.lr:eq:0.1"}).json()
    assert {r["status"] for r in lr["runs"]} == {"success", "failed"}
    found = client.get(runs, params={"q": "diverged"}).json()["runs"]
    assert [r["run_id"] for r in found] == [FAILED]
    plot = client.get(f"{BASE}/plot", params={"x": "params.lr", "y": "metrics.final_loss"}).json()
    assert [p["n"] for p in plot["series"][0]["points"]] == [2, 1]


def test_failed_run_detail_error_traceback_and_named_log(client: httpx.Client) -> None:
    detail = client.get(f"{BASE}/runs/{FAILED}").json()
    run = detail["run"]
    assert run["status"] == "failed" and run["error"] == "RuntimeError: diverged"
    assert "RuntimeError: diverged" in run["traceback"]
    assert run["params"] == {"depth": 4, "lr": 0.1} and run["metrics"] == {}
    assert detail["artifacts"] == [] and list(detail["log_sizes"]) == ["run"]
    log = client.get(f"{BASE}/runs/{FAILED}/logs/run")
    assert "about to diverge" in log.text
    assert int(log.headers["X-Log-Size"]) == detail["log_sizes"]["run"]


def test_artifacts_with_manifest_and_stepped_metrics(client: httpx.Client, root: Path) -> None:
    detail = client.get(f"{BASE}/runs/{DONE}").json()
    assert detail["run"]["derived"] == {"loss_x2": pytest.approx(1.90198, abs=1e-5)}
    assert detail["artifacts"] == [
        {
            "path": "weights.npz",
            "size": 234,
            "type": "application/octet-stream",
            "name": "weights",
            "kind": "numpy",
            "format": "npz",
        }
    ]
    served = client.get(f"{BASE}/runs/{DONE}/artifacts/weights.npz")
    assert served.status_code == 200
    on_disk = root / EXPERIMENT / "artifacts" / DONE / "weights.npz"
    assert served.content == on_disk.read_bytes()
    steps = client.get(f"{BASE}/runs/{DONE}/steps").json()["steps"]
    assert list(steps) == ["loss"] and len(steps["loss"]) == 5
    assert steps["loss"][0] == [0, 0.99]
    compared = client.get(f"{BASE}/compare", params=[("run", DONE), ("run", FAILED)]).json()
    assert compared["differs"]["params"] == ["depth", "lr"]


def test_files_outside_the_run_are_not_served(client: httpx.Client, root: Path) -> None:
    outside = root.parent / "secret.txt"
    outside.write_text("secret")
    base = root / EXPERIMENT
    (base / "logs" / f"{DONE}_leak.log").symlink_to(outside)
    (base / "logs" / f"{DONE}_other.log").symlink_to(base / "logs" / f"{FAILED}_run.log")
    (base / "artifacts" / DONE / "leak.txt").symlink_to(outside)
    own = (base / "logs" / f"{DONE}_run.log").stat().st_size
    assert client.get(f"{BASE}/runs/{DONE}").json()["log_sizes"] == {"run": own}
    for name in ("leak", "other"):
        response = client.get(f"{BASE}/runs/{DONE}/logs/{name}")
        assert response.text == "" and response.headers["X-Log-Size"] == "0"
    assert client.get(f"{BASE}/runs/{DONE}/logs/..%2Frun").status_code in (400, 404)
    assert client.get(f"{BASE}/runs/{DONE}/artifacts/leak.txt").status_code == 404
    assert client.get(f"{BASE}/runs/{DONE}/artifacts/..%2F..%2Fruns").status_code in (400, 404)
    detail = client.get(f"{BASE}/runs/{DONE}")
    assert "secret" not in detail.text
    assert [a["path"] for a in detail.json()["artifacts"]] == ["weights.npz"]


def test_runs_written_while_atlas_is_up_show_up(client: httpx.Client, root: Path) -> None:
    base = root / EXPERIMENT
    fresh = "0123456789abcdef"
    write_run(base, record("sweep:0.1", fresh, {"lr": 1.0, "depth": 8}, {}, "running"))

    def counts() -> dict[str, int]:
        cards = client.get("/api/experiments").json()["experiments"]
        return next(e["counts"] for e in cards if e["experiment_id"] == EXPERIMENT)

    eventually(lambda: counts().get("running") == 1)
    write_run(base, record("sweep:0.1", fresh, {"lr": 1.0, "depth": 8}, {"final_loss": 0.0}))
    write_derived(base, fresh, {"loss_x2": 0.0})
    eventually(lambda: counts() == {"success": 4, "failed": 1})
    row = client.get(f"{BASE}/runs", params={"where": "params.depth:eq:8"}).json()["runs"][0]
    assert row["metrics"] == {"final_loss": 0.0, "loss_x2": 0.0}


@pytest.mark.parametrize("experiment_id", [EXPERIMENT, "sweep:0.1"])
def test_postgres_index_of_upstream_runs_counts_success_as_done(
    pg_server: PostgresServer, tmp_path: Path, experiment_id: str
) -> None:
    """What the new PostgresStore does: upstream records, status ``success``, in ``runs``
    (under the directory's name or upstream's own experiment id); the run's files (detail,
    logs, artifacts) in upstream's layout under ``file_root``."""
    base = f"/api/experiments/{experiment_id}"
    files = tmp_path / "files"
    shutil.copytree(FIXTURE, files, ignore=shutil.ignore_patterns("README.md", ".gitignore"))
    locator = f"{pg_server.dsn(pg_server.create_database())}&file_root={files}"
    records = []
    for path in sorted((files / EXPERIMENT / "runs").glob("*.json")):
        data = json.loads(path.read_text())
        row = normalize(data, data["run_id"])
        assert row is not None
        keep = ("params", "status", "metrics", "error", "traceback", "duration_s", "started_at")
        records.append(
            RunRecord(experiment_id, data["run_id"], seed=7, **{k: row[k] for k in keep})
        )
    store = parse_locator(locator).open()
    assert isinstance(store, PostgresStore)
    try:
        spec = {"experiment_id": experiment_id, "name": "sweep", "operation": "__main__:train"}
        store._index_experiment(spec, len(records))
        store.index_runs(records)
    finally:
        store.close()
    with (
        running_atlas(locator, tmp_path / "atlas.log") as atlas,
        httpx.Client(base_url=atlas.url, timeout=10) as http,
    ):
        card = http.get(base).json()
        assert card["counts"] == {"success": 3, "failed": 1} and card["progress"] == 1.0
        assert http.get(f"{base}/runs", params={"status": "success"}).json()["total"] == 3
        detail = http.get(f"{base}/runs/{DONE}").json()
        assert detail["run"]["metrics"]["loss_x2"] == pytest.approx(1.90198, abs=1e-5)
        assert [a["path"] for a in detail["artifacts"]] == ["weights.npz"]
        assert list(detail["log_sizes"]) == ["run"]
        assert list(http.get(f"{base}/runs/{DONE}/steps").json()["steps"]) == ["loss"]
