"""The learning-curves, export and about endpoints over HTTP, on both stores: the shared
dataset (tests/integration/atlas/dataset.py, steps in ``metric_steps`` on PostgreSQL) and a
sweep written through ``metalab.run`` (curves_data.py: upstream's layout, steps in files)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import httpx
import pytest

from tests.integration.atlas.curves_data import DEPTHS, FAIL_AT, LRS, REPLICATES, STEPS
from tests.integration.atlas.dataset import records

pytestmark = pytest.mark.timeout(180)
CURVES = "/api/experiments/sweep/curves"


def test_one_run_curve_with_its_group_statistics(client: httpx.Client) -> None:
    body = client.get(CURVES, params={"metric": "loss", "group": "params.lr"}).json()
    assert body["metrics"] == ["loss"] and body["metric"] == "loss"
    assert (body["matched"], body["selected"], body["truncated"]) == (24, 24, False)
    assert body["limits"] == {"runs": 1000, "points": 2000}
    [run] = body["runs"]
    assert run["run_id"] == records()[0].run_id and run["group"] == "0.001"
    assert run["steps"] == list(range(10))
    assert run["values"] == pytest.approx([1.0 / (s + 1) for s in range(10)])
    [group] = body["groups"]
    assert group["group"] == "0.001" and group["runs"] == 1
    assert group["mean"] == pytest.approx(run["values"]) and group["n"] == [1] * 10
    assert group["std"] == [0.0] * 10 and group["min"] == group["max"] == group["mean"]


def test_default_metric_filters_and_thinning(client: httpx.Client) -> None:
    assert client.get(CURVES).json()["metric"] == "loss"
    thinned = client.get(CURVES, params={"points": 3}).json()["runs"][0]
    assert len(thinned["steps"]) == 3 and thinned["steps"][0] == 0 and thinned["steps"][-1] == 9
    filtered = client.get(CURVES, params={"where": "params.lr:gt:0.005"}).json()
    assert filtered["matched"] == 16 and filtered["runs"] == []
    capped = client.get(CURVES, params={"runs": 5}).json()
    assert (capped["matched"], capped["selected"], capped["truncated"]) == (24, 5, True)
    unknown = client.get(CURVES, params={"metric": "no_such_metric"}).json()
    assert unknown["metric"] == "no_such_metric" and unknown["runs"] == []


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"runs": 0}, "runs must be between 1 and 1000"),
        ({"runs": 1001}, "runs must be between 1 and 1000"),
        ({"points": 1}, "points must be between 2 and 2000"),
        ({"points": 5000}, "points must be between 2 and 2000"),
        ({"runs": "many"}, "runs"),
        ({"metric": "loss; drop"}, "metric must be"),
        ({"metric": "x" * 200}, "metric must be"),
        ({"group": "params.nope"}, "unknown field"),
        ({"where": "params.lr:near:1"}, "filter operator"),
    ],
)
def test_bad_curve_requests_answer_400_with_a_reason(
    client: httpx.Client, params: dict[str, Any], reason: str
) -> None:
    response = client.get(CURVES, params=params)
    assert response.status_code == 400
    assert reason in response.json()["error"]


def test_curves_of_unknown_experiment_and_bad_ids(client: httpx.Client) -> None:
    assert client.get("/api/experiments/nope/curves").status_code == 404
    assert client.get("/api/experiments/..%2f/curves").status_code in (400, 404)


def test_export_csv_json_and_bounds(client: httpx.Client) -> None:
    base = "/api/experiments/sweep/export"
    response = client.get(base, params={"sort": "metrics.loss"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="sweep-runs.csv"' in response.headers["content-disposition"]
    assert response.headers["x-export-truncated"] == "false"
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert len(table) == 24 and response.headers["x-export-rows"] == "24"
    assert {"run_id", "status", "params.lr", "params.depth", "metrics.loss"} <= set(table[0])
    losses = [r["metrics.loss"] for r in table]
    present = [float(v) for v in losses if v not in ("", "NaN")]
    assert present == sorted(present)  # the runs table's order, missing last
    assert "NaN" in losses
    failed = next(r for r in table if r["status"] == "failed")
    assert failed["error"] == "ValueError: diverged" and failed["metrics.loss"] == ""

    page = client.get(base, params={"format": "json", "status": "completed", "limit": 3})
    assert page.headers["x-export-truncated"] == "true"
    body = page.json()
    assert len(body["rows"]) == 3 and body["columns"][:2] == ["run_id", "status"]
    assert {r["status"] for r in body["rows"]} == {"completed"}

    bad_requests: list[tuple[dict[str, Any], str]] = [
        ({"format": "xml"}, "format must be one of csv, json, parquet"),
        ({"limit": 0}, "limit must be between 1 and 100000"),
        ({"limit": 100001}, "limit must be between 1 and 100000"),
        ({"sort": "metrics.nope"}, "unknown field"),
    ]
    for params, reason in bad_requests:
        bad = client.get(base, params=params)
        assert bad.status_code == 400 and reason in bad.json()["error"]


def test_parquet_export_needs_pyarrow(client: httpx.Client) -> None:
    response = client.get("/api/experiments/sweep/export", params={"format": "parquet"})
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        assert response.status_code == 400 and "pyarrow" in response.json()["error"]
        return
    table = pq.read_table(io.BytesIO(response.content))
    assert table.num_rows == 24 and "params.lr" in table.column_names


def test_about_names_the_store_without_secrets(client: httpx.Client) -> None:
    about = client.get("/api/about").json()
    assert about["store_kind"] in ("file", "postgres")
    assert about["project"] is None and about["environment"] is None  # no bundle
    if about["store_kind"] == "postgres":
        assert "passfile=***" in about["store"] and "file_root=" in about["store"]
        assert ".pgpass" not in about["store"] and "passfile" not in about["store"].split("***")[1]
    health = client.get("/api/health").json()
    assert health["store"] == about["store"]


def test_curves_of_a_metalab_run_sweep(sweep_atlas: tuple[httpx.Client, str]) -> None:
    http, base = sweep_atlas
    body = http.get(f"{base}/curves", params={"group": "params.lr"}).json()
    assert body["metrics"] == ["acc", "loss"] and body["metric"] == "loss"
    per_group = len(DEPTHS) * REPLICATES
    assert len(body["runs"]) == len(LRS) * per_group == body["matched"]
    assert [g["group"] for g in body["groups"]] == [str(lr) for lr in LRS]
    assert [g["runs"] for g in body["groups"]] == [per_group] * len(LRS)
    failed = [r for r in body["runs"] if r["status"] == "failed"]
    assert len(failed) == REPLICATES and {r["group"] for r in failed} == {"1.0"}
    assert all(r["steps"] == list(range(FAIL_AT)) for r in failed)

    # each group's mean and spread are those of its runs' own step files
    for group in body["groups"]:
        members = [r for r in body["runs"] if r["group"] == group["group"]]
        curves = [
            dict(http.get(f"{base}/runs/{r['run_id']}/steps").json()["steps"]["loss"])
            for r in members
        ]
        assert group["steps"] == list(range(STEPS))
        for k, step in enumerate(group["steps"]):
            values = [c[step] for c in curves if step in c]
            mean = sum(values) / len(values)
            assert group["n"][k] == len(values)
            assert group["mean"][k] == pytest.approx(mean)
            assert group["min"][k] == pytest.approx(min(values))
            spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
            assert group["std"][k] == pytest.approx(spread)
    late = body["groups"][-1]
    assert late["n"][0] == per_group and late["n"][-1] == per_group - REPLICATES

    exported = http.get(f"{base}/export", params={"format": "json"}).json()
    assert len(exported["rows"]) == len(body["runs"])
    assert {r["error"] for r in exported["rows"] if r["status"] == "failed"} == {
        "RuntimeError: loss diverged"
    }


def test_every_route_takes_upstreams_name_version_id(
    sweep_atlas: tuple[httpx.Client, str],
) -> None:
    """``curves:1`` (upstream's id) and the store's own id (``curves_1``, the directory, in a
    FileStore) answer alike on every experiment route."""
    http, base = sweep_atlas
    upstream = "/api/experiments/curves:1"
    runs = http.get(f"{upstream}/runs", params={"sort": "params.lr", "order": "desc"}).json()
    assert runs["total"] == len(LRS) * len(DEPTHS) * REPLICATES
    done = next(r["run_id"] for r in runs["runs"] if r["status"] == "success")
    other = runs["runs"][-1]["run_id"]
    detail = http.get(f"{upstream}/runs/{done}").json()
    log = next(iter(detail["log_sizes"]))
    routes: list[tuple[str, Any]] = [
        ("", None),
        ("/runs", {"where": "params.depth:eq:2"}),
        (f"/runs/{done}", None),
        (f"/runs/{done}/steps", None),
        (f"/runs/{done}/logs/{log}", None),
        ("/plot", {"x": "params.lr", "y": "metrics.final_loss", "group": "params.depth"}),
        ("/curves", {"group": "params.lr"}),
        ("/histogram", {"field": "metrics.final_loss", "group": "params.lr"}),
        ("/export", {"format": "json"}),
        ("/compare", [("run", done), ("run", other)]),
    ]
    for suffix, params in routes:
        for prefix in (upstream, "/api/experiments/curves%3A1"):
            answer = http.get(f"{prefix}{suffix}", params=params)
            assert answer.status_code == 200, (prefix, suffix, answer.text[:200])
            assert answer.content == http.get(f"{base}{suffix}", params=params).content
    artifacts = detail["artifacts"]
    for artifact in artifacts:
        got = http.get(f"{upstream}/runs/{done}/artifacts/{artifact['path']}")
        assert got.status_code == 200
    assert http.get("/api/experiments/nosuch:1/runs").status_code == 404


def test_floats_with_integral_values_are_listed(sweep_atlas: tuple[httpx.Client, str]) -> None:
    """A browser's JSON parser turns ``1.0`` into ``1``; each run lists such fields."""
    http, base = sweep_atlas
    top = http.get(f"{base}/runs", params={"sort": "params.lr", "order": "desc", "limit": 1})
    assert b'"lr":1.0' in top.content
    run = top.json()["runs"][0]
    assert run["params"]["lr"] == 1.0 and run["floats"] == ["params.lr"]
    low = http.get(f"{base}/runs", params={"sort": "params.lr", "limit": 1}).json()["runs"][0]
    assert low["params"]["lr"] == 0.01 and low["floats"] == []
    detail = http.get(f"{base}/runs/{run['run_id']}").json()["run"]
    assert detail["floats"] == ["params.lr"]
    both = [("run", run["run_id"]), ("run", low["run_id"])]
    compared = http.get(f"{base}/compare", params=both).json()["runs"]
    assert [r["floats"] for r in compared] == [["params.lr"], []]
    found = http.get("/api/search", params={"q": '"lr": 1.0'}).json()["runs"]
    assert found and all(r["floats"] == ["params.lr"] for r in found)


def test_histogram_of_a_metric_per_param(sweep_atlas: tuple[httpx.Client, str]) -> None:
    """Counts and summaries agree with the runs table's own values; failed runs (no
    ``final_loss``) are counted as missing."""
    http, base = sweep_atlas
    params: dict[str, Any] = {"field": "metrics.final_loss", "group": "params.lr", "bins": 5}
    body = http.get(f"{base}/histogram", params=params).json()
    rows = http.get(f"{base}/runs", params={"limit": 500}).json()["runs"]
    values = {
        r["run_id"]: (r["params"]["lr"], r["metrics"]["final_loss"])
        for r in rows
        if "final_loss" in r["metrics"]
    }
    assert body["matched"] == len(rows) and body["missing"] == len(rows) - len(values)
    assert body["total"] == len(values) and len(body["edges"]) == 6
    everything = [v for _, v in values.values()]
    assert body["edges"][0] == min(everything) and body["edges"][-1] == max(everything)
    assert [s["group"] for s in body["series"]] == [str(lr) for lr in LRS]
    for series, lr in zip(body["series"], LRS, strict=True):
        mine = sorted(v for g, v in values.values() if g == lr)
        assert sum(series["counts"]) == series["n"] == len(mine)
        assert series["min"] == mine[0] and series["max"] == mine[-1]
        assert series["mean"] == pytest.approx(sum(mine) / len(mine))
    filtered = http.get(f"{base}/histogram", params={**params, "where": "params.depth:eq:2"}).json()
    assert filtered["total"] == len(LRS) * REPLICATES and filtered["missing"] == 0
    plain = http.get(f"{base}/histogram", params={"field": "params.lr", "bins": 2}).json()
    assert plain["group"] is None and plain["total"] == len(rows)
    per_lr = len(DEPTHS) * REPLICATES
    assert plain["series"][0]["counts"] == [2 * per_lr, per_lr]  # 0.01 and 0.1 | 1.0

    for bad in (
        {"field": "metrics.final_loss", "bins": "0"},
        {"field": "metrics.final_loss", "bins": "201"},
        {"field": "status"},
        {"field": "metrics.nosuch"},
        {"field": "metrics.final_loss", "group": "params.nosuch"},
    ):
        answer = http.get(f"{base}/histogram", params=bad)
        assert answer.status_code == 400 and answer.json()["error"], bad
