"""Small multiples in real headless Chromium: the plot, the learning curves and the histogram
split by ``depth`` (``facet by``) on a sweep written through ``metalab.run``. Each facet's
title, what its chart draws, and the axes every facet shares."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.atlas.browser_helpers import SHOTS, legend, set_control, waiter
from tests.integration.atlas.curves_data import DEPTHS, FAILING, LRS, REPLICATES
from tests.integration.atlas.server import Atlas

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def facets(driver: Any) -> list[dict[str, Any]]:
    """Each facet card: its title, and its chart's x and y scales and data."""
    found: list[dict[str, Any]] = driver.execute_script(
        "return [...document.querySelectorAll('.facet')].map((f) => {"
        " const u = f.querySelector('.facet-chart').uplot;"
        " return {facet: f.dataset.facet, title: f.querySelector('h3').textContent,"
        "  x: u ? [u.scales.x.min, u.scales.x.max] : null,"
        "  y: u ? [u.scales.y.min, u.scales.y.max] : null, data: u ? u.data : null}; });"
    )
    return found


def drawn_on_shared_axes(driver: Any, host: str) -> bool:
    """The facets in ``host`` were drawn again on their shared ranges."""
    return bool(driver.execute_script(f"return document.querySelector('{host}').dataset.shared"))


def shared(panels: list[dict[str, Any]]) -> None:
    assert all(p["x"] == panels[0]["x"] and p["y"] == panels[0]["y"] for p in panels), [
        (p["x"], p["y"]) for p in panels
    ]


def test_plot_curves_and_histogram_facets(browser: Any, sweep: Atlas) -> None:
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    titles = [f"depth = {d}" for d in DEPTHS]
    failing_depth = str(FAILING[1])

    # plot: final loss by lr, one chart per depth; the failed runs' lr is missing at depth 4
    browser.get(f"{sweep.url}/#/e/curves_1/plot?x=params.lr&y=metrics.final_loss")
    wait.until(lambda d: d.find_element(By.ID, "plot-facet"))
    set_control(browser, "plot-group", "")
    set_control(browser, "plot-facet", "params.depth")
    wait.until(lambda d: [p["title"] for p in facets(d)] == titles)
    wait.until(lambda d: drawn_on_shared_axes(d, "#plot"))
    panels = facets(browser)
    shared(panels)
    for panel in panels:
        drawn = [v for v in panel["data"][1] if v is not None]
        assert len(drawn) == len(LRS) - (panel["facet"] == failing_depth)
    api = httpx.get(
        f"{sweep.url}/api/experiments/curves_1/plot",
        params={"x": "params.lr", "y": "metrics.final_loss", "facet": "params.depth"},
    ).json()
    means = [[p["mean"] for p in f["series"][0]["points"]] for f in api["facets"]]
    assert [[v for v in p["data"][1] if v is not None] for p in panels] == means
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "plot-facets.png"))

    # curves: coloured by lr, one chart per depth, each with its three lr groups
    browser.get(f"{sweep.url}/#/e/curves_1/curves?group=params.lr&facet=params.depth")
    wait.until(lambda d: [p["title"] for p in facets(d)] == titles)
    info = browser.find_element(By.ID, "curves-info").text
    per_facet = len(LRS) * REPLICATES
    assert info.startswith(
        f"{per_facet * len(DEPTHS)} runs with loss · {len(LRS)} groups · 2 facets"
    )
    for n in range(len(DEPTHS)):
        assert legend(browser, f".facet:nth-child({n + 1}) .facet-chart") == [
            f"lr = {lr} ({REPLICATES} runs)" for lr in LRS
        ]
    wait.until(lambda d: drawn_on_shared_axes(d, "#curves-chart"))
    assert "null" not in browser.find_element(By.ID, "curves-chart").text
    shared(facets(browser))
    browser.save_screenshot(str(SHOTS / "curves-facets.png"))

    # histogram: one per depth over the same bins, a distribution table each
    browser.get(f"{sweep.url}/#/e/curves_1/histogram?field=metrics.final_loss&facet=params.depth")
    wait.until(lambda d: [p["title"] for p in facets(d)] == titles)
    wait.until(lambda d: drawn_on_shared_axes(d, "#histogram"))
    panels = facets(browser)
    shared(panels)
    assert panels[0]["data"][0] == panels[1]["data"][0]  # the same bin edges
    counts = {p["facet"]: sum(v for v in p["data"][1][:-1] if v is not None) for p in panels}
    assert counts == {str(d): per_facet - REPLICATES * (str(d) == failing_depth) for d in DEPTHS}
    tables = browser.find_elements(By.CSS_SELECTOR, "table.distributions")
    assert len(tables) == len(DEPTHS)
    shown_n = [t.find_element(By.CSS_SELECTOR, "td[data-stat=n]").text for t in tables]
    assert shown_n == [str(counts[str(d)]) for d in DEPTHS]
    browser.save_screenshot(str(SHOTS / "histogram-facets.png"))
