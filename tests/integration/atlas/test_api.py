"""The JSON API over real HTTP, the same assertions for a FileStore and a PostgresStore."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from tests.integration.atlas.dataset import records, run_id

pytestmark = pytest.mark.timeout(120)
ALL = records()


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["run_id"] for r in response.json()["runs"]]


def finite_loss(r: Any) -> bool:
    loss = r.metrics.get("loss")
    return isinstance(loss, float) and math.isfinite(loss)


def test_health_names_the_store_kind_and_readability(client: httpx.Client, atlas: Any) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["store_readable"] is True
    assert body["store_kind"] in ("file", "postgres")
    assert "passfile" not in body["store"] or "password" not in body["store"]


def test_overview_counts_runs_by_status(client: httpx.Client) -> None:
    found = {e["experiment_id"]: e for e in client.get("/api/experiments").json()["experiments"]}
    assert set(found) == {"sweep", "other"}
    sweep = found["sweep"]
    expected: dict[str, int] = {}
    for r in ALL:
        expected[r.status] = expected.get(r.status, 0) + 1
    assert sweep["counts"] == expected
    assert sweep["total_runs"] == 30 and sweep["pending"] == 6
    finished = len(ALL) - expected["running"]
    assert sweep["progress"] == pytest.approx(finished / 30)
    assert sweep["last_activity"]
    assert found["other"]["runs"] == 0


def test_experiment_lists_known_fields(client: httpx.Client) -> None:
    body = client.get("/api/experiments/sweep").json()
    assert body["fields"]["params"] == ["depth", "lr", "opt"]
    assert body["fields"]["metrics"] == ["acc", "loss"]
    assert client.get("/api/experiments/nope").status_code == 404


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by_metric_is_numeric_with_missing_last_either_way(
    client: httpx.Client, order: str
) -> None:
    got = ids(
        client.get(
            "/api/experiments/sweep/runs",
            params={"sort": "metrics.loss", "order": order, "limit": 500},
        )
    )
    present = sorted((r for r in ALL if finite_loss(r)), key=lambda r: r.run_id)
    present.sort(key=lambda r: r.metrics["loss"], reverse=order == "desc")
    missing = sorted(r.run_id for r in ALL if not finite_loss(r))
    assert got == [r.run_id for r in present] + missing


def test_sort_by_integer_param_is_numeric_not_textual(client: httpx.Client) -> None:
    got = client.get(
        "/api/experiments/sweep/runs",
        params={"sort": "params.depth", "order": "desc", "limit": 500},
    ).json()["runs"]
    depths = [r["params"]["depth"] for r in got]
    assert depths == sorted(depths, reverse=True) and depths[0] == 32


def test_filters_by_status_param_and_metric(client: httpx.Client) -> None:
    got = ids(
        client.get(
            "/api/experiments/sweep/runs",
            params=[
                ("status", "completed"),
                ("where", "params.lr:eq:0.01"),
                ("where", "metrics.loss:gt:0.1"),
                ("limit", "500"),
            ],
        )
    )
    expected = sorted(
        r.run_id
        for r in ALL
        if r.status == "completed"
        and r.params["lr"] == 0.01
        and finite_loss(r)
        and r.metrics["loss"] > 0.1
    )
    assert got == expected and got


def test_filter_lt_and_contains_and_search(client: httpx.Client) -> None:
    lt = ids(
        client.get(
            "/api/experiments/sweep/runs",
            params=[("where", "params.depth:lt:16"), ("limit", "500")],
        )
    )
    assert lt == sorted(r.run_id for r in ALL if r.params["depth"] < 16)
    contains = ids(
        client.get(
            "/api/experiments/sweep/runs",
            params=[("where", "params.opt:contains:AD"), ("limit", "500")],
        )
    )
    assert contains == sorted(r.run_id for r in ALL if r.params["opt"] == "adam")
    search = ids(client.get("/api/experiments/sweep/runs", params={"q": "diverged"}))
    assert search == sorted(r.run_id for r in ALL if r.status == "failed")
    none = client.get("/api/experiments/sweep/runs", params={"q": "100%_"}).json()
    assert none["total"] == 0


def test_pagination_walks_every_run_once(client: httpx.Client) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        body = client.get(
            "/api/experiments/sweep/runs",
            params={"sort": "metrics.acc", "order": "desc", "offset": offset, "limit": 5},
        ).json()
        assert body["total"] == len(ALL)
        seen += [r["run_id"] for r in body["runs"]]
        if not body["runs"]:
            break
        offset += 5
    assert sorted(seen) == sorted(r.run_id for r in ALL) and len(seen) == len(set(seen))


def test_sort_by_core_columns(client: httpx.Client) -> None:
    got = ids(
        client.get(
            "/api/experiments/sweep/runs",
            params={"sort": "duration_s", "order": "desc", "limit": 500},
        )
    )
    assert got[-1] == run_id(7)  # the running run has no duration: last
    created = ids(
        client.get(
            "/api/experiments/sweep/runs",
            params={"sort": "created_at", "order": "desc", "limit": 3},
        )
    )
    assert created == [run_id(23), run_id(22), run_id(21)]


def test_run_detail_with_traceback_steps_logs_and_artifacts(client: httpx.Client) -> None:
    failed = client.get(f"/api/experiments/sweep/runs/{run_id(2)}").json()["run"]
    assert failed["status"] == "failed" and "ValueError" in failed["traceback"]
    detail = client.get(f"/api/experiments/sweep/runs/{run_id(0)}").json()
    assert {a["path"] for a in detail["artifacts"]} == {
        "notes.txt",
        "sub/config.json",
        "plot.png",
        "page.html",
    }
    assert detail["log_sizes"]["stdout"] > 0
    steps = client.get(f"/api/experiments/sweep/runs/{run_id(0)}/steps").json()["steps"]
    assert [s for s, _ in steps["loss"]] == list(range(10))
    log = client.get(f"/api/experiments/sweep/runs/{run_id(0)}/logs/stdout")
    assert log.text == "epoch 1\nepoch 2\n"
    base = f"/api/experiments/sweep/runs/{run_id(0)}/artifacts"
    assert client.get(f"{base}/notes.txt").text == "hello artifact"
    assert client.get(f"{base}/sub/config.json").json() == {"a": 1}
    image = client.get(f"{base}/plot.png")
    assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")
    html = client.get(f"{base}/page.html")
    assert html.headers["content-type"] == "application/octet-stream"
    assert "attachment" in html.headers["content-disposition"]
    download = client.get(f"{base}/notes.txt", params={"download": "true"})
    assert "attachment" in download.headers["content-disposition"]


def test_nan_metric_is_served_as_strict_json(client: httpx.Client) -> None:
    run = client.get(f"/api/experiments/sweep/runs/{run_id(4)}").json()["run"]
    assert run["metrics"]["loss"] == "NaN"


def test_plot_aggregates_replicates_with_error_bars(client: httpx.Client) -> None:
    body = client.get(
        "/api/experiments/sweep/plot",
        params={"x": "params.depth", "y": "metrics.acc", "group": "params.lr"},
    ).json()
    series = {s["group"]: s["points"] for s in body["series"]}
    assert set(series) == {"0.001", "0.01", "0.1"}
    for lr in (0.001, 0.01, 0.1):
        for p in series[str(lr)]:
            values = [
                r.metrics["acc"]
                for r in ALL
                if r.status == "completed" and r.params["lr"] == lr and r.params["depth"] == p["x"]
            ]
            assert p["n"] == len(values)
            assert p["mean"] == pytest.approx(sum(values) / len(values))
            if len(values) == 2:
                assert p["std"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
        assert [p["x"] for p in series[str(lr)]] == sorted(p["x"] for p in series[str(lr)])


def test_compare_marks_differences(client: httpx.Client) -> None:
    body = client.get(
        "/api/experiments/sweep/compare", params=[("run", run_id(0)), ("run", run_id(1))]
    ).json()
    assert [r["run_id"] for r in body["runs"]] == [run_id(0), run_id(1)]
    assert body["differs"]["params"] == ["opt"]
    assert "loss" in body["differs"]["metrics"] and "seed" in body["differs"]["core"]


def test_compare_gives_differences_from_a_baseline(client: httpx.Client) -> None:
    """Run 0 and run 1 differ in the optimiser, the seed, the loss and the duration; run 2
    (depth 4) failed: no metrics, so its metric differences are null."""
    runs: list[tuple[str, Any]] = [("run", run_id(0)), ("run", run_id(1)), ("run", run_id(2))]
    body = client.get("/api/experiments/sweep/compare", params=runs).json()
    assert body["baseline"] == run_id(0)
    assert body["deltas"]["metrics"]["loss"] == [0.0, pytest.approx(0.5), None]
    assert body["deltas"]["metrics"]["acc"] == [0.0, pytest.approx(-0.05), None]
    assert body["deltas"]["core"] == {"duration_s": [0.0, 1.0, 2.0]}
    # depth 2, 2, 4; the optimiser is text (no difference); lr is equal everywhere
    assert body["deltas"]["params"] == {"depth": [0, 0, 2], "opt": [None, None, None]}
    rebased = client.get(
        "/api/experiments/sweep/compare", params=[*runs, ("baseline", run_id(1))]
    ).json()
    assert rebased["baseline"] == run_id(1)
    assert rebased["deltas"]["metrics"]["loss"] == [pytest.approx(-0.5), 0.0, None]
    outside = client.get("/api/experiments/sweep/compare", params=[*runs, ("baseline", run_id(5))])
    assert outside.status_code == 400 and "baseline" in outside.json()["error"]


def test_openapi_documents_the_api(client: httpx.Client) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "/api/experiments/{experiment_id}/runs" in paths
    assert "/api/health" in paths and "/api/experiments/{experiment_id}/plot" in paths


def test_ui_is_served_from_the_package(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    script = client.get("/static/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "default-src 'self'" in script.headers["content-security-policy"]
