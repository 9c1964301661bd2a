"""The UI in real headless Chromium: overview → runs table (filter, sort) → run detail → plot.

Screenshots go to ``test-artifacts/atlas/``.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.integration.atlas.browser_helpers import SHOTS, WAIT
from tests.integration.atlas.server import Atlas

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def shot(driver: Any, atlas: Atlas, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(f"{atlas.url}/api/health", timeout=10) as response:
        kind = json.load(response)["store_kind"]
    driver.save_screenshot(str(SHOTS / f"{kind}-{name}.png"))


def cells(wait: Any, field: str) -> list[str]:
    """The column's texts, read again if the table re-renders meanwhile."""
    from selenium.webdriver.common.by import By

    css = f'#runs td[data-field="{field}"]'
    found: list[str] = wait.until(
        lambda d: ([c.text for c in d.find_elements(By.CSS_SELECTOR, css)],)
    )[0]
    return found


def test_overview_filter_sort_detail_and_plot(browser: Any, atlas: Atlas) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, WAIT, ignored_exceptions=[StaleElementReferenceException])

    def click(css: str) -> None:
        """Click once the element is there (pages re-render while runs are in flight)."""
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, css).click() or True)

    browser.get(f"{atlas.url}/#/")
    row = wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-experiment="sweep"]'))
    )
    assert "completed" in row.text and "/30" in row.text
    shot(browser, atlas, "1-overview")

    click('tr[data-experiment="sweep"] a')
    wait.until(lambda d: d.find_element(By.ID, "range").text.endswith("of 24"))

    Select(browser.find_element(By.ID, "filter-field")).select_by_value("params.depth")
    Select(browser.find_element(By.ID, "filter-op")).select_by_value("gt")
    browser.find_element(By.ID, "filter-value").send_keys("4")
    browser.find_element(By.ID, "filter-add").click()
    wait.until(lambda d: d.find_element(By.ID, "range").text.endswith("of 12"))
    assert all(int(d) > 4 for d in cells(wait, "params.depth"))

    click('th[data-field="metrics.loss"]')
    wait.until(
        lambda d: (
            "sorted"
            in d.find_element(By.CSS_SELECTOR, 'th[data-field="metrics.loss"]').get_attribute(
                "class"
            )
        )
    )
    losses = cells(wait, "metrics.loss")
    present = [float(v) for v in losses if v not in ("", "NaN")]
    assert present == sorted(present) and present
    assert losses[: len(present)] == [v for v in losses if v not in ("", "NaN")]  # missing last
    click('th[data-field="metrics.loss"]')
    wait.until(
        lambda d: (
            "desc"
            in d.find_element(By.CSS_SELECTOR, 'th[data-field="metrics.loss"]').get_attribute(
                "class"
            )
        )
    )
    descending = [float(v) for v in cells(wait, "metrics.loss") if v not in ("", "NaN")]
    assert descending == sorted(descending, reverse=True)
    shot(browser, atlas, "2-runs-filtered-sorted")

    first = browser.find_element(By.CSS_SELECTOR, "#runs tr[data-run] a")
    chosen = first.text
    first.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "run-id"), chosen))
    wait.until(lambda d: d.find_element(By.ID, "params").text.count("\n") >= 2)
    shot(browser, atlas, "3-run-detail")

    browser.get(f"{atlas.url}/#/e/sweep/r/00000000000000000000")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#curves .curve .u-over")))
    losses = browser.execute_script(
        "return document.querySelector('#curves .curve[data-metric=loss]').uplot.data[1]"
    )
    assert losses == pytest.approx([1.0 / (s + 1) for s in range(10)])
    click('#artifacts a[href="#"]')
    wait.until(ec.text_to_be_present_in_element((By.ID, "artifact-text"), "hello artifact"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "log-stdout"), "epoch 2"))
    shot(browser, atlas, "4-run-curves-artifact")

    browser.get(f"{atlas.url}/#/e/sweep/plot?x=params.depth&y=metrics.acc&group=params.lr")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#plot .legend-item")))
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#plot .legend-label")]
    assert labels == ["lr = 0.001", "lr = 0.01", "lr = 0.1"]
    shot(browser, atlas, "5-plot")

    browser.get(f"{atlas.url}/#/e/sweep")
    wait.until(lambda d: d.find_element(By.ID, "range").text.endswith("of 12"))  # kept filter
    pair = wait.until(
        lambda d: [
            r.get_attribute("data-run")
            for r in d.find_elements(By.CSS_SELECTOR, "#runs tr[data-run]")
        ][:2]
    )
    for run in pair:
        click(f'input[data-run="{run}"]')
    click("#compare-button")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#compare tr.diff")))
    headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#compare th a")]
    assert headers == pair
    differing = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#compare tr.diff")]
    assert any(row.startswith("seed") for row in differing)
    shot(browser, atlas, "6-compare")

    browser.get(f"{atlas.url}/#/services")
    # the previous page's heading may be replaced while we read it: wait (stale ignored)
    wait.until(lambda d: "Services" in d.find_element(By.CSS_SELECTOR, "main h1").text)

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_search_and_column_picker(browser: Any, atlas: Atlas) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT, ignored_exceptions=[StaleElementReferenceException])
    browser.get(f"{atlas.url}/?fresh=1#/e/sweep")  # a new document: no table state kept
    wait.until(lambda d: d.find_element(By.ID, "range").text.endswith("of 24"))
    browser.find_element(By.ID, "search").send_keys("diverged")
    wait.until(lambda d: d.find_element(By.ID, "range").text.endswith("of 8"))

    assert browser.find_elements(By.CSS_SELECTOR, 'th[data-field="params.opt"]')
    browser.find_element(By.ID, "column-button").click()
    browser.find_element(By.CSS_SELECTOR, '#column-list input[value="params.opt"]').click()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, 'th[data-field="params.opt"]'))
    shot(browser, atlas, "7-search-columns")


def test_upstream_layout_run_page(browser: Any, tmp_path: Path) -> None:
    """A store written by upstream metalab: its statuses, curves, named log and artifacts."""
    import shutil

    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.integration.atlas.server import running_atlas

    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "upstream_layout"
    shutil.copytree(fixture, tmp_path / "store")
    wait = WebDriverWait(browser, WAIT, ignored_exceptions=[StaleElementReferenceException])
    with running_atlas(str(tmp_path / "store"), tmp_path / "atlas.log") as atlas:
        browser.get(f"{atlas.url}/?fresh=2#/")
        row = wait.until(
            ec.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-experiment="sweep_0.1"]'))
        )
        assert "success 3" in row.text and "failed 1" in row.text and "4/4" in row.text
        browser.get(f"{atlas.url}/#/e/sweep_0.1")
        wait.until(lambda d: d.find_element(By.ID, "range").text.endswith("of 4"))
        browser.find_element(By.ID, "status-success").click()
        wait.until(lambda d: d.find_element(By.ID, "range").text.endswith("of 3"))
        browser.get(f"{atlas.url}/#/e/sweep_0.1/r/4ddead34ed4552cc")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#curves .curve .u-over")))
        wait.until(ec.text_to_be_present_in_element((By.ID, "log-run"), "training lr=0.01"))
        assert "weights.npz" in browser.find_element(By.ID, "artifacts").text
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / "upstream-run-detail.png"))
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
