"""Faceted charts colour alike in real headless Chromium: on a sweep whose facets hold
different groups (depth 2: lr 0.01 and 0.1; depth 4: lr 0.1 and 1.0), each facet's legend
lists only its own groups, and a learning rate has the same colour (legend swatch, curve,
band, plot points) in every facet — the colour of its place among all facets' groups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.atlas.browser_helpers import SHOTS, waiter
from tests.integration.atlas.facet_colours_data import DEPTHS, LRS, REPLICATES, groups_of
from tests.integration.atlas.server import Atlas, running_atlas

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Atlas]:
    pytest.importorskip("metalab.runner")
    from tests.integration.atlas.facet_colours_data import write_sweep

    scratch = tmp_path_factory.mktemp("facet-colours")
    write_sweep(str(scratch / "store"))
    with running_atlas(str(scratch / "store"), scratch / "atlas.log") as atlas:
        yield atlas


def panels(driver: Any, host: str) -> list[dict[str, Any]]:
    """Per facet card in ``host``: its value, legend labels and swatch colours, and the
    stroke colour and label of each series its chart drew (uPlot's resolved strokes)."""
    found: list[dict[str, Any]] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0] + ' .facet')].map((f) => {"
        " const u = f.querySelector('.facet-chart').uplot;"
        " const items = [...f.querySelectorAll('.legend-item')];"
        " return {facet: f.dataset.facet,"
        "  labels: items.map((i) => i.dataset.label),"
        "  swatches: items.map((i) => i.querySelector('line').getAttribute('stroke')),"
        "  series: u ? u.series.slice(1).map((s) => [s.label, s._stroke]) : []}; });",
        host,
    )
    return found


def palette(driver: Any) -> list[str]:
    return list(driver.execute_script("return Charts.PALETTE"))


def test_learning_curve_facets_keep_each_groups_colour(browser: Any, sweep: Atlas) -> None:
    wait = waiter(browser)
    browser.get(f"{sweep.url}/#/e/colours_1/curves?group=params.lr&facet=params.depth")
    wait.until(
        lambda d: [p["facet"] for p in panels(d, "#curves-chart")] == [str(d) for d in DEPTHS]
    )
    wait.until(
        lambda d: d.execute_script("return document.querySelector('#curves-chart').dataset.shared")
    )
    colours = palette(browser)
    shown = panels(browser, "#curves-chart")
    for panel, depth in zip(shown, DEPTHS, strict=True):
        lrs = groups_of(depth)
        assert panel["labels"] == [f"lr = {lr} ({REPLICATES} runs)" for lr in lrs]
        expected = [colours[LRS.index(lr)] for lr in lrs]
        assert panel["swatches"] == expected
        # mean ± std: per group a mean line, then its band's upper and lower edges
        means = [
            (label, stroke)
            for label, stroke in panel["series"]
            if not label.endswith(("upper", "lower"))
        ]
        assert means == [(f"lr = {lr}", colours[LRS.index(lr)] + "ff") for lr in lrs]
    # lr = 0.1 is in both facets: one colour, although it is the first group at depth 4
    assert shown[0]["swatches"][1] == shown[1]["swatches"][0] == colours[1]

    # every run drawn: each run's line in its group's colour
    browser.execute_script(
        "const e = document.getElementById('curves-mode'); e.value = 'runs';"
        "e.dispatchEvent(new Event('change'));"
    )
    wait.until(
        lambda d: all(len(p["series"]) == 2 * REPLICATES for p in panels(d, "#curves-chart"))
    )
    for panel, depth in zip(panels(browser, "#curves-chart"), DEPTHS, strict=True):
        strokes = sorted({stroke for _label, stroke in panel["series"]})
        assert strokes == sorted(colours[LRS.index(lr)] + "bf" for lr in groups_of(depth))
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "curves-facet-colours.png"))


def test_plot_and_histogram_facets_keep_each_groups_colour(browser: Any, sweep: Atlas) -> None:
    wait = waiter(browser)
    browser.get(
        f"{sweep.url}/#/e/colours_1/plot?x=params.lr&y=metrics.final_loss"
        "&group=params.lr&facet=params.depth"
    )
    wait.until(lambda d: [p["facet"] for p in panels(d, "#plot")] == [str(d) for d in DEPTHS])
    colours = palette(browser)
    for panel, depth in zip(panels(browser, "#plot"), DEPTHS, strict=True):
        expected = [colours[LRS.index(lr)] for lr in groups_of(depth)]
        assert panel["swatches"] == expected
        assert [stroke for _label, stroke in panel["series"]] == [c + "ff" for c in expected]

    browser.get(
        f"{sweep.url}/#/e/colours_1/histogram?field=metrics.final_loss"
        "&group=params.lr&facet=params.depth&bins=4"
    )
    wait.until(lambda d: [p["facet"] for p in panels(d, "#histogram")] == [str(d) for d in DEPTHS])
    for panel, depth in zip(panels(browser, "#histogram"), DEPTHS, strict=True):
        assert panel["swatches"] == [colours[LRS.index(lr)] for lr in groups_of(depth)]
    dots = browser.execute_script(
        "return [...document.querySelectorAll('table.distributions')].map((t) =>"
        " [...t.querySelectorAll('.dot')].map((d) => getComputedStyle(d).backgroundColor))"
    )
    assert dots[0][1] == dots[1][0]  # lr = 0.1 in both tables
    assert dots[0][0] != dots[1][0]
