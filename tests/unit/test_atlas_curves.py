"""Learning-curve data (metalab_atlas.curves), export (metalab_atlas.export), the header's
redaction (metalab_atlas.about) and the vendored chart library: pure logic, no server."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from metalab_atlas import curves, export
from metalab_atlas.about import about, shown_locator
from metalab_atlas.assets import Assets
from metalab_atlas.query import Field, QueryError


def test_thin_keeps_first_last_and_spacing() -> None:
    curve = [[s, float(s)] for s in range(101)]
    assert curves.thin(curve, 200) is curve
    thinned = curves.thin(curve, 5)
    assert [p[0] for p in thinned] == [0, 25, 50, 75, 100]
    assert curves.thin(curve, 1) == [[100, 100.0]]


def test_clean_sorts_dedups_and_drops_non_finite() -> None:
    raw: list[Any] = [[2, 1.0], [0, "NaN"], [1, math.inf], [2, 3.0], ["x", 1], [True, 2], [3]]
    # True is a JSON boolean, not a step; the last value for a step wins
    assert curves.clean(raw) == [[0, None], [1, None], [2, 3.0]]


def test_group_stats_per_step() -> None:
    stats = curves.group_stats([[[0, 1.0], [1, 2.0]], [[0, 3.0], [1, None], [2, 5.0]]])
    assert stats["steps"] == [0, 1, 2]
    assert stats["mean"] == [2.0, 2.0, 5.0] and stats["n"] == [2, 1, 1]
    assert stats["std"][0] == pytest.approx(math.sqrt(2.0)) and stats["std"][1:] == [0.0, 0.0]
    assert stats["min"] == [1.0, 2.0, 5.0] and stats["max"] == [3.0, 2.0, 5.0]


def test_build_groups_runs_by_a_param_in_value_order() -> None:
    rows = [
        {"run_id": "a", "status": "success", "params": {"lr": 0.1}},
        {"run_id": "b", "status": "failed", "params": {"lr": 0.01}},
        {"run_id": "c", "status": "success", "params": {"lr": 0.1}},
        {"run_id": "d", "status": "success", "params": {"lr": 1}},  # no curve
    ]
    data = {"a": [[0, 1.0], [1, 0.5]], "b": [[0, 2.0]], "c": [[0, 3.0], [1, 1.5]]}
    asked: list[list[str]] = []

    def read(ids: list[str]) -> dict[str, curves.Curve]:
        asked.append(ids)
        return {i: data[i] for i in ids if i in data}

    body = curves.build(rows, Field("params", "lr"), read, points=500)
    assert asked == [["a", "b", "c", "d"]]  # one read for every run
    assert [r["run_id"] for r in body["runs"]] == ["a", "b", "c"]
    assert [g["group"] for g in body["groups"]] == ["0.01", "0.1"]
    assert body["groups"][1]["mean"] == [2.0, 1.0] and body["groups"][1]["runs"] == 2
    assert body["runs"][1] == {
        "run_id": "b",
        "status": "failed",
        "group": "0.01",
        "steps": [0],
        "values": [2.0],
    }
    ungrouped = curves.build(rows, None, read, points=500)
    assert [g["group"] for g in ungrouped["groups"]] == [None]


def test_metric_names_and_bounds() -> None:
    assert curves.default_metric(["acc", "train/loss", "val_loss"]) == "train/loss"
    assert curves.default_metric(["acc"]) == "acc" and curves.default_metric([]) == ""
    assert curves.check_metric("train/loss:v2") == "train/loss:v2"
    for bad in ("", "a b", "../x", "x" * 129, "naïve"):
        with pytest.raises(QueryError):
            curves.check_metric(bad)
    with pytest.raises(QueryError, match="runs must be between 1 and 1000"):
        curves.bounded(1001, 1, curves.MAX_RUNS, "runs")


ROWS: list[dict[str, Any]] = [
    {
        "run_id": "r1",
        "status": "success",
        "error": None,
        "params": {"lr": 0.1, "name": "=cmd()", "layers": [1, 2]},
        "metrics": {"loss": math.nan, "acc": -0.5},
    },
    {"run_id": "r2", "status": "failed", "error": "-boom", "params": {"lr": 1}, "metrics": {}},
]


def test_csv_columns_values_and_formula_guard() -> None:
    table = list(csv.DictReader(io.StringIO(export.to_csv(ROWS).decode())))
    assert list(table[0])[:2] == ["run_id", "status"]
    assert list(table[0])[-5:] == [
        "params.layers",
        "params.lr",
        "params.name",
        "metrics.acc",
        "metrics.loss",
    ]
    assert table[0]["params.name"] == "'=cmd()" and table[1]["error"] == "'-boom"
    assert table[0]["metrics.acc"] == "-0.5"  # numbers are not text: no guard
    assert table[0]["metrics.loss"] == "NaN" and table[0]["params.layers"] == "[1, 2]"
    assert table[1]["metrics.loss"] == ""


def test_json_export_is_strict() -> None:
    body = json.loads(export.to_json(ROWS))
    assert body["rows"][0]["metrics.loss"] == "NaN" and body["rows"][1]["params.lr"] == 1
    with pytest.raises(QueryError, match="format must be one of"):
        export.check_format("xlsx")


def test_locator_shown_without_credentials() -> None:
    shown = shown_locator(
        "postgresql://me:hunter2@db:5432/runs?passfile=/home/me/.pgpass&file_root=/data"
    )
    assert "hunter2" not in shown and ".pgpass" not in shown
    assert shown == "postgresql://me:***@db:5432/runs?passfile=***&file_root=/data"
    assert shown_locator("/srv/store") == "/srv/store"


def test_about_reads_project_and_environment_from_the_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"project": "vision", "environment": "hpc", "token": "x"}))
    assert about("/srv/store", "file", bundle) == {
        "project": "vision",
        "environment": "hpc",
        "store_kind": "file",
        "store": "/srv/store",
    }
    assert about("/srv/store", "file", tmp_path / "missing.json")["project"] is None


def test_vendored_chart_library_is_served() -> None:
    files = Assets().files
    assert {"vendor/uPlot.iife.min.js", "vendor/uPlot.min.css", "charts.js"} <= set(files)
    assert files["vendor/uPlot.iife.min.js"][0].startswith(b"/*! https://github.com/leeoniya/uPlot")
    index = files["index.html"][0].decode()
    order = [index.index(name) for name in ("vendor/uPlot.iife.min.js", "charts.js", "app.js")]
    assert order == sorted(order)
