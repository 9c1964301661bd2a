"""Faceting (``facet=``) of the plot, the histogram and the learning curves over HTTP, on a
real FileStore and a real PostgresStore: each facet answers as the same request filtered to
its value would, histograms share their bins, and the number of facets is bounded."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.atlas.curves_data import DEPTHS, LRS, REPLICATES
from tests.integration.atlas.dataset import DEPTHS as DATASET_DEPTHS

pytestmark = pytest.mark.timeout(180)
BASE = "/api/experiments/sweep"


def numeric_runs(client: httpx.Client, metric: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get(f"{BASE}/runs", params={"limit": 500}).json()["runs"]
    return [
        r
        for r in rows
        if isinstance(r["metrics"].get(metric), int | float)
        and not isinstance(r["metrics"][metric], bool)
    ]


def test_plot_facets_are_the_plots_of_each_value(client: httpx.Client) -> None:
    params = {"x": "params.lr", "y": "metrics.acc", "group": "params.opt"}
    body = client.get(f"{BASE}/plot", params={**params, "facet": "params.depth"}).json()
    assert body["facet"] == "params.depth" and body["series"] == []
    assert [f["facet"] for f in body["facets"]] == [str(d) for d in DATASET_DEPTHS]
    assert body["facets_total"] == len(DATASET_DEPTHS)
    for panel in body["facets"]:
        where = f"params.depth:eq:{panel['facet']}"
        alone = client.get(f"{BASE}/plot", params={**params, "where": where}).json()
        assert panel["series"] == alone["series"] and panel["series"]
    plain = client.get(f"{BASE}/plot", params=params).json()
    assert plain["facet"] is None and "facets" not in plain
    everything = sum(p["n"] for s in plain["series"] for p in s["points"])
    split = sum(p["n"] for f in body["facets"] for s in f["series"] for p in s["points"])
    assert split == everything == len(numeric_runs(client, "acc"))


def test_histogram_facets_share_their_bins(client: httpx.Client) -> None:
    params = {"field": "metrics.acc", "bins": "4", "facet": "params.depth"}
    body = client.get(f"{BASE}/histogram", params=params).json()
    runs = numeric_runs(client, "acc")
    values = [r["metrics"]["acc"] for r in runs]
    assert body["edges"][0] == min(values) and body["edges"][-1] == pytest.approx(max(values))
    assert body["matched"] == 24 and body["facets_total"] == len(DATASET_DEPTHS)
    for panel in body["facets"]:
        assert panel["edges"] == body["edges"]
        mine = [r for r in runs if str(r["params"]["depth"]) == panel["facet"]]
        assert panel["total"] == len(mine) == sum(panel["series"][0]["counts"])
        assert panel["matched"] == 24 // len(DATASET_DEPTHS)
        assert panel["series"][0]["min"] == min(r["metrics"]["acc"] for r in mine)


def test_facets_are_bounded_and_checked(client: httpx.Client) -> None:
    """A field with more values than 12 facets: the first 12 drawn, the count said."""
    params = {"x": "params.lr", "y": "metrics.acc", "facet": "run_id"}
    body = client.get(f"{BASE}/plot", params=params).json()
    # in the plot's order: ids that read as numbers by value, then the others as text
    ids = sorted(
        (r["run_id"] for r in numeric_runs(client, "acc")),
        key=lambda t: (0, int(t), "") if t.isdigit() else (1, 0, t),
    )
    assert len(ids) > 12 and body["facets_total"] == len(ids)
    assert [f["facet"] for f in body["facets"]] == ids[:12]
    for route, extra in (
        ("plot", {"x": "params.lr", "y": "metrics.acc"}),
        ("histogram", {"field": "metrics.acc"}),
        ("curves", {}),
    ):
        bad = client.get(f"{BASE}/{route}", params={**extra, "facet": "params.nosuch"})
        assert bad.status_code == 400 and "unknown field" in bad.json()["error"]
        long = client.get(f"{BASE}/{route}", params={**extra, "facet": "x" * 2000})
        assert long.status_code == 400


def test_curve_facets_split_the_selected_runs(sweep_atlas: tuple[httpx.Client, str]) -> None:
    http, base = sweep_atlas
    params = {"group": "params.lr", "metric": "loss"}
    body = http.get(f"{base}/curves", params={**params, "facet": "params.depth"}).json()
    assert body["facet"] == "params.depth" and body["runs"] == [] and body["groups"] == []
    assert [f["facet"] for f in body["facets"]] == [str(d) for d in DEPTHS]
    assert body["facets_total"] == len(DEPTHS) and body["selected"] == body["matched"]
    for panel in body["facets"]:
        where = f"params.depth:eq:{panel['facet']}"
        alone = http.get(f"{base}/curves", params={**params, "where": where}).json()
        assert panel["runs"] == alone["runs"] and panel["groups"] == alone["groups"]
        assert len(panel["runs"]) == len(LRS) * REPLICATES
        assert [g["group"] for g in panel["groups"]] == [str(lr) for lr in LRS]
