"""The file index and PostgreSQL answer every query the same way (order included)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.atlas.rounding import rounded
from tests.integration.atlas.server import running_atlas

pytestmark = pytest.mark.timeout(300)
FIELDS = [
    "run_id",
    "status",
    "host",
    "error",
    "created_at",
    "seed",
    "attempt",
    "duration_s",
    "params.lr",
    "params.depth",
    "params.opt",
    "metrics.loss",
    "metrics.acc",
]
VALUES = [
    "0.01",
    "4",
    "16",
    "adam",
    "completed",
    "cn001",
    "NaN",
    "0.5",
    "diverged",
    "2026-11-25T10:05",
]


@pytest.fixture(scope="module")
def pair(
    file_locator: str, postgres_locator: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    logs = tmp_path_factory.mktemp("pair")
    with (
        running_atlas(file_locator, Path(logs) / "file.log") as files,
        running_atlas(postgres_locator, Path(logs) / "pg.log") as pg,
        httpx.Client(base_url=files.url, timeout=30) as a,
        httpx.Client(base_url=pg.url, timeout=30) as b,
    ):
        yield a, b


def same(pair: tuple[httpx.Client, httpx.Client], params: list[tuple[str, str]]) -> None:
    answers = []
    for http in pair:
        response = http.get("/api/experiments/sweep/runs", params=[*params, ("limit", "500")])
        assert response.status_code == 200, (params, response.text)
        body = response.json()
        answers.append((body["total"], [r["run_id"] for r in body["runs"]]))
    assert answers[0] == answers[1], params


@pytest.mark.parametrize("field", FIELDS)
def test_sorting_agrees(pair: tuple[httpx.Client, httpx.Client], field: str) -> None:
    for order in ("asc", "desc"):
        same(pair, [("sort", field), ("order", order)])


@pytest.mark.parametrize("field", FIELDS)
def test_filtering_agrees(pair: tuple[httpx.Client, httpx.Client], field: str) -> None:
    for op, value in itertools.product(("eq", "lt", "gt", "contains"), VALUES):
        same(pair, [("where", f"{field}:{op}:{value}"), ("sort", "metrics.loss")])


def test_search_and_status_agree(pair: tuple[httpx.Client, httpx.Client]) -> None:
    for q in ("adam", "CN00", "diverged", "0000000000000000000a", '"lr": 0.1'):
        same(pair, [("q", q), ("sort", "params.depth"), ("order", "desc")])
    same(pair, [("status", "failed,running"), ("sort", "duration_s")])


def test_plots_agree(pair: tuple[httpx.Client, httpx.Client]) -> None:
    for x, y, group in [
        ("params.depth", "metrics.acc", "params.lr"),
        ("params.lr", "metrics.loss", ""),
        ("params.opt", "duration_s", "status"),
    ]:
        params = {"x": x, "y": y, "group": group}
        a, b = (http.get("/api/experiments/sweep/plot", params=params).json() for http in pair)
        assert rounded(a) == rounded(b), params
