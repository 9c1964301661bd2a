"""Array charts in real headless Chromium: a ``metalab.run`` run's ``capture.data`` arrays and
NumPy artifacts on its run page, a long signal as a reduced line, a grid as a heatmap."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.atlas.arrays_data import GRID, SIGNAL
from tests.integration.atlas.browser_helpers import SHOTS, waiter
from tests.integration.atlas.server import Atlas, running_atlas

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def arrays_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Atlas]:
    pytest.importorskip("numpy")
    from tests.integration.atlas.arrays_data import write_arrays

    scratch = tmp_path_factory.mktemp("arrays-ui")
    write_arrays(str(scratch / "store"))
    with running_atlas(str(scratch / "store"), scratch / "atlas.log") as atlas:
        yield atlas


def card(driver: Any, name: str) -> dict[str, Any]:
    """What the array card ``name`` shows: kind, note, the line's data or the heatmap's
    size, scale and corner colours."""
    found: dict[str, Any] = driver.execute_script(
        "const c = document.querySelector(`.array[data-array='${arguments[0]}']`);"
        "if (!c) return {kind: null};"
        "const host = c.querySelector('.array-chart');"
        "const line = host.querySelector('.array-line');"
        "const canvas = host.querySelector('canvas.heatmap');"
        "const note = host.querySelector('.array-note');"
        "const out = {kind: host.dataset.kind || null, title: c.querySelector('h3').textContent,"
        " note: note ? note.textContent : null};"
        "if (line && line.uplot) out.data = line.uplot.data;"
        "if (canvas) { const ctx = canvas.getContext('2d');"
        " const px = (x, y) => [...ctx.getImageData(x, y, 1, 1).data.slice(0, 3)];"
        " out.rows = Number(canvas.dataset.rows); out.cols = Number(canvas.dataset.cols);"
        " out.first = px(0, 0); out.last = px(canvas.width - 1, canvas.height - 1);"
        " out.min = host.querySelector('.heatmap-min').textContent;"
        " out.max = host.querySelector('.heatmap-max').textContent; }"
        "return out;",
        name,
    )
    return found


def test_run_page_draws_its_arrays(browser: Any, arrays_store: Atlas) -> None:
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    base = f"{arrays_store.url}/api/experiments/arrays:1"
    rows = httpx.get(f"{base}/runs").json()["runs"]
    run = next(r["run_id"] for r in rows if r["params"]["scale"] == 1)
    browser.get(f"{arrays_store.url}/#/e/arrays:1/r/{run}")
    wait.until(lambda d: card(d, "grid")["kind"] == "heatmap")
    names = [
        e.get_attribute("data-array") for e in browser.find_elements(By.CSS_SELECTOR, ".array")
    ]
    assert names == [
        "grid",
        "signal",
        "small",
        "pair.npz:u",
        "pair.npz:v",
        "raw.npy",
        "weights.npz:arr",
    ]

    grid = card(browser, "grid")
    assert grid["title"].startswith(f"grid {GRID[0]} × {GRID[1]} float64")
    assert (grid["rows"], grid["cols"]) == (200, GRID[1])
    assert grid["note"] == f"shape {GRID[0]} × {GRID[1]}, drawn as block means"
    # viridis from the smallest block mean (top left) to the largest (bottom right)
    assert grid["first"] == [0x44, 0x01, 0x54] and grid["last"] == [0xFD, 0xE7, 0x25]
    api_grid = httpx.get(f"{base}/runs/{run}/array", params={"result": "grid"}).json()
    flat = [v for row in api_grid["values"] for v in row]
    assert float(grid["min"]) == min(flat) and float(grid["max"]) == pytest.approx(max(flat))

    wait.until(lambda d: card(d, "signal").get("data"))
    signal = card(browser, "signal")
    api_signal = httpx.get(f"{base}/runs/{run}/array", params={"result": "signal"}).json()
    assert signal["kind"] == "line" and len(signal["data"][1]) == 2000
    assert signal["data"][0] == api_signal["index"]
    assert signal["data"][1] == pytest.approx(api_signal["values"])
    assert signal["note"] == f"shape {SIGNAL}, drawn as block means"
    wait.until(lambda d: card(d, "small").get("data"))
    assert card(browser, "small")["data"] == [[0, 1, 2], [1, 2, 4]]
    assert card(browser, "small")["note"] is None

    # beyond the first four, an array is drawn when asked for
    assert card(browser, "weights.npz:arr")["kind"] is None
    browser.find_element(By.CSS_SELECTOR, ".array[data-array='weights.npz:arr'] button").click()
    wait.until(lambda d: card(d, "weights.npz:arr")["kind"] == "heatmap")
    weights = card(browser, "weights.npz:arr")
    assert (weights["rows"], weights["cols"], weights["min"], weights["max"]) == (3, 4, "0", "11")
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "run-arrays.png"))
