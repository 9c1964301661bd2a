"""Array charts' API on a real FileStore and a real PostgresStore: a ``metalab.run`` sweep's
``capture.data`` arrays and NumPy artifacts listed and read, big arrays reduced by block
means, and nothing read from outside the run."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.atlas.arrays_data import GRID, SIGNAL, signal
from tests.integration.atlas.server import running_atlas
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module", params=["file", "postgres"])
def arrays_atlas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, str, Path]]:
    """The sweep served by Atlas: (client, experiment route, the experiment's directory)."""
    pytest.importorskip("numpy")
    from tests.integration.atlas.arrays_data import write_arrays

    scratch = tmp_path_factory.mktemp("arrays")
    if request.param == "file":
        locator, root = str(scratch / "store"), scratch / "store"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        root = scratch / "files"
        locator = f"{server.dsn(server.create_database())}&file_root={root}"
    write_arrays(locator)
    with (
        running_atlas(locator, scratch / "atlas.log") as atlas,
        httpx.Client(base_url=atlas.url, timeout=30) as http,
    ):
        yield http, "/api/experiments/arrays:1", root / "arrays_1"


def runs_by_scale(http: httpx.Client, base: str) -> dict[int, str]:
    rows = http.get(f"{base}/runs").json()["runs"]
    return {int(r["params"]["scale"]): r["run_id"] for r in rows}


def test_arrays_of_a_run_are_listed(arrays_atlas: tuple[httpx.Client, str, Path]) -> None:
    http, base, _ = arrays_atlas
    run = runs_by_scale(http, base)[1]
    listed = http.get(f"{base}/runs/{run}/arrays").json()["arrays"]
    shown = {(a["source"], a["name"]): (a["shape"], a["dtype"]) for a in listed}
    assert shown == {
        ("result", "grid"): (list(GRID), "float64"),
        ("result", "signal"): ([SIGNAL], "float64"),
        ("result", "small"): ([3], None),
        ("artifact", "pair.npz:u"): ([5], "<i8"),
        ("artifact", "pair.npz:v"): ([2, 3], "<f8"),
        ("artifact", "raw.npy"): ([2, 2], ">i4"),
        ("artifact", "weights.npz:arr"): ([3, 4], "<f4"),
    }  # the 3-D cube, the dict and the stepped loss are no arrays to draw


def test_a_long_signal_is_reduced_to_block_means(
    arrays_atlas: tuple[httpx.Client, str, Path],
) -> None:
    http, base, _ = arrays_atlas
    run = runs_by_scale(http, base)[2]
    body = http.get(f"{base}/runs/{run}/array", params={"result": "signal"}).json()
    assert body["kind"] == "line" and body["shape"] == [SIGNAL] and body["downsampled"]
    assert len(body["values"]) == len(body["index"]) == 2000
    full = signal(2.0)
    # block i covers items [i*n//2000, (i+1)*n//2000): its mean and its centre index
    for i in (0, 1, 999, 1999):
        a, b = i * SIGNAL // 2000, (i + 1) * SIGNAL // 2000
        assert body["values"][i] == pytest.approx(sum(full[a:b]) / (b - a))
        assert body["index"][i] == (a + b - 1) / 2
    assert body["min"] == pytest.approx(min(full)) and body["max"] == pytest.approx(max(full))
    small = http.get(f"{base}/runs/{run}/array", params={"result": "small"}).json()
    assert small["values"] == [1.0, 2.0, 4.0] and not small["downsampled"]
    assert small["index"] == [0, 1, 2]


def test_heatmaps_from_results_and_numpy_artifacts(
    arrays_atlas: tuple[httpx.Client, str, Path],
) -> None:
    http, base, _ = arrays_atlas
    run = runs_by_scale(http, base)[1]
    grid = http.get(f"{base}/runs/{run}/array", params={"result": "grid"}).json()
    assert grid["kind"] == "heatmap" and grid["shape"] == list(GRID) and grid["downsampled"]
    assert len(grid["values"]) == len(grid["rows"]) == 200
    assert len(grid["values"][0]) == len(grid["cols"]) == GRID[1]
    rows, cols = GRID
    a, b = grid["rows"][1], grid["rows"][2]  # the second block of rows
    expected = [sum(r * cols + c for r in range(a, b)) / (b - a) for c in range(cols)]
    assert grid["values"][1] == pytest.approx(expected)
    assert (grid["min"], grid["max"]) == (0.0, rows * cols - 1.0)

    weights = http.get(f"{base}/runs/{run}/array", params={"artifact": "weights.npz"}).json()
    assert weights["kind"] == "heatmap" and weights["dtype"] == "<f4"
    assert weights["values"] == [[float(4 * r + c) for c in range(4)] for r in range(3)]
    raw = http.get(f"{base}/runs/{run}/array", params={"artifact": "raw.npy"}).json()
    assert raw["values"] == [[1, 2], [3, 4]] and raw["dtype"] == ">i4"
    u = http.get(f"{base}/runs/{run}/array", params={"artifact": "pair.npz", "key": "u"}).json()
    assert u["kind"] == "line" and u["values"] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"result": "cube"}, 400),  # 3-D
        ({"result": "summary"}, 400),  # not numbers
        ({"result": "nosuch"}, 404),
        ({"result": "../runs/x"}, 400),
        ({}, 400),
        ({"result": "signal", "artifact": "raw.npy"}, 400),
        ({"artifact": "pair.npz"}, 400),  # two arrays: name one
        ({"artifact": "pair.npz", "key": "../u"}, 400),
        ({"artifact": "_manifest.json"}, 400),
        ({"artifact": "../../runs/x.npy"}, 400),
        ({"artifact": "nosuch.npy"}, 404),
    ],
)
def test_bad_array_requests(
    arrays_atlas: tuple[httpx.Client, str, Path], params: dict[str, str], status: int
) -> None:
    http, base, _ = arrays_atlas
    run = runs_by_scale(http, base)[1]
    answer = http.get(f"{base}/runs/{run}/array", params=params)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]


def test_arrays_outside_the_run_are_refused(
    arrays_atlas: tuple[httpx.Client, str, Path], tmp_path: Path
) -> None:
    """A results file or an artifact that is a symlink to another run's array (or anywhere
    else) reads as absent; so does a run's results directory linked elsewhere."""
    http, base, directory = arrays_atlas
    runs = runs_by_scale(http, base)
    mine, other = runs[1], runs[2]
    results = directory / "results"
    link = results / mine / "borrowed.json"
    link.symlink_to(results / other / "signal.json")
    artifact_link = directory / "artifacts" / mine / "borrowed.npy"
    artifact_link.symlink_to(directory / "artifacts" / other / "raw.npy")
    try:
        names = {a["name"] for a in http.get(f"{base}/runs/{mine}/arrays").json()["arrays"]}
        assert "borrowed" not in names and "borrowed.npy" not in names
        got = http.get(f"{base}/runs/{mine}/array", params={"result": "borrowed"})
        assert got.status_code == 404
        got = http.get(f"{base}/runs/{mine}/array", params={"artifact": "borrowed.npy"})
        assert got.status_code == 404
    finally:
        link.unlink()
        artifact_link.unlink()
    moved = tmp_path / "elsewhere"
    shutil.move(str(results / mine), moved)
    os.symlink(moved, results / mine)
    try:
        listed = http.get(f"{base}/runs/{mine}/arrays").json()["arrays"]
        assert not any(a["source"] == "result" for a in listed)
        got = http.get(f"{base}/runs/{mine}/array", params={"result": "signal"})
        assert got.status_code == 404
    finally:
        os.unlink(results / mine)
        shutil.move(str(moved), results / mine)
    assert http.get(f"{base}/runs/{mine}/array", params={"result": "signal"}).status_code == 200
    assert math.isfinite(http.get(f"{base}/runs/{mine}/array?result=small").json()["max"])
