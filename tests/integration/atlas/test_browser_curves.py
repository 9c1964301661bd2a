"""Learning curves, the plot page, the header and export in real headless Chromium, on a sweep
written through ``metalab.run`` (stepped metrics, two failed runs) next to the upstream-written
fixture, and the header on both stores. Assertions read what the page shows: the legend, the
chart's series and their values (uPlot's data), the info line.

Screenshots go to ``test-artifacts/atlas/``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.atlas.browser_helpers import SHOTS, legend, set_control, waiter
from tests.integration.atlas.curves_data import DEPTHS, LRS, REPLICATES, STEPS
from tests.integration.atlas.server import Atlas, running_atlas

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def chart(driver: Any, host: str) -> dict[str, Any]:
    """What the uPlot chart in ``host`` draws: its series' labels, data and y scale."""
    found: dict[str, Any] = driver.execute_script(
        "const u = document.querySelector(arguments[0]).uplot;"
        "return {labels: u.series.slice(1).map((s) => s.label), data: u.data,"
        " distr: u.scales.y.distr, xmin: u.scales.x.min, xmax: u.scales.x.max,"
        " alpha: u.series.slice(1).map((s) => s.alpha === undefined ? 1 : s.alpha)};",
        host,
    )
    return found


def test_learning_curves_page(browser: Any, sweep: Atlas) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    api = httpx.get(
        f"{sweep.url}/api/experiments/curves_1/curves", params={"group": "params.lr"}
    ).json()
    browser.get(f"{sweep.url}/?c=1#/e/curves_1/curves?group=params.lr")
    wait.until(lambda d: len(legend(d, "#curves-chart")) == len(LRS))
    per_group = len(DEPTHS) * REPLICATES
    assert legend(browser, "#curves-chart") == [f"lr = {lr} ({per_group} runs)" for lr in LRS]
    info = browser.find_element(By.ID, "curves-info").text
    assert info.startswith(f"{len(LRS) * per_group} runs with loss · {len(LRS)} groups")
    assert browser.find_element(By.ID, "curves-metric").get_attribute("value") == "loss"

    # mean ± std: a mean line and two band edges per group, the means as the API gives them
    drawn = chart(browser, "#curves-chart")
    assert len(drawn["labels"]) == 3 * len(LRS)
    assert drawn["labels"][0] == "lr = 0.01"
    for i, group in enumerate(api["groups"]):
        mean = drawn["data"][1 + 3 * i]
        assert mean[: len(group["mean"])] == pytest.approx(group["mean"])
        upper = drawn["data"][2 + 3 * i]
        assert upper[0] == pytest.approx(group["mean"][0] + group["std"][0])
    assert drawn["distr"] == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "curves-mean.png"))

    # the legend's values follow the cursor
    browser.execute_script(
        "const u = document.querySelector('#curves-chart').uplot;"
        "u.setCursor({left: u.valToPos(10, 'x'), top: 10});"
    )
    wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#curves-chart .legend-value")[
            0
        ].text.startswith("step 10: ")
    )

    # hovering a legend entry highlights its series and dims the others
    first = browser.find_elements(By.CSS_SELECTOR, "#curves-chart .legend-item")[1]
    ActionChains(browser).move_to_element(first).perform()
    wait.until(lambda d: "focused" in first.get_attribute("class"))
    alpha = chart(browser, "#curves-chart")["alpha"]
    assert alpha[3:6] == [1, 1, 1] and alpha[0] < 1 and alpha[6] < 1

    # every run, smoothed, on a log axis
    set_control(browser, "curves-mode", "runs")
    wait.until(lambda d: len(chart(d, "#curves-chart")["labels"]) == len(api["runs"]))
    done = 1 + next(i for i, r in enumerate(api["runs"]) if r["status"] == "success")
    raw = chart(browser, "#curves-chart")["data"][done]
    assert raw == pytest.approx(api["runs"][done - 1]["values"])
    set_control(browser, "curves-smooth", "0.9", "input")
    wait.until(lambda d: d.find_element(By.ID, "curves-smooth-value").text == "0.90")
    smooth = chart(browser, "#curves-chart")["data"][done]
    assert smooth[0] == pytest.approx(raw[0])  # debiased: the first point is the first value
    assert smooth[10] != pytest.approx(raw[10])
    browser.find_element(By.ID, "curves-log").click()
    wait.until(lambda d: chart(d, "#curves-chart")["distr"] == 3)
    failed = [r for r in api["runs"] if r["status"] == "failed"]
    assert failed and len(legend(browser, "#curves-chart")) == len(LRS)

    # drag to zoom: the x scale narrows
    over = browser.find_element(By.CSS_SELECTOR, "#curves-chart .u-over")
    width = over.size["width"]
    ActionChains(browser).move_to_element_with_offset(
        over, -width // 4, 0
    ).click_and_hold().move_by_offset(width // 4, 0).release().perform()

    def zoomed(d: Any) -> bool:
        scale = chart(d, "#curves-chart")
        return bool(0 < scale["xmin"] < scale["xmax"] < STEPS - 1)

    wait.until(zoomed)
    browser.save_screenshot(str(SHOTS / "curves-runs-log-zoomed.png"))
    browser.find_element(By.ID, "curves-reset").click()
    wait.until(lambda d: chart(d, "#curves-chart")["xmin"] == 0)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_upstream_fixture_curves_and_plot(browser: Any, sweep: Atlas) -> None:
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    browser.get(f"{sweep.url}/?c=2#/e/sweep_0.1/curves?group=params.lr")
    wait.until(lambda d: len(legend(d, "#curves-chart")) == 2)
    assert legend(browser, "#curves-chart") == ["lr = 0.01 (2 runs)", "lr = 0.1 (1 run)"]
    drawn = chart(browser, "#curves-chart")
    assert drawn["data"][0] == [0, 1, 2, 3, 4]
    assert drawn["data"][1][0] == pytest.approx(0.99)  # the fixture's loss at step 0

    browser.get(
        f"{sweep.url}/#/e/curves_1/plot?x=params.lr&y=metrics.final_loss&group=params.depth"
    )
    wait.until(lambda d: len(legend(d, "#plot")) == len(DEPTHS))
    assert legend(browser, "#plot") == [f"depth = {d}" for d in DEPTHS]
    plotted = chart(browser, "#plot")
    means = [v for v in plotted["data"][1] if v is not None]
    assert len(means) == len(LRS)  # depth 2: every learning rate
    assert len([v for v in plotted["data"][2] if v is not None]) == len(LRS) - 1  # 1.0 failed
    assert browser.find_element(By.ID, "plot").get_attribute("data-series") == str(len(DEPTHS))
    # ticks are readable: several of them, none cut off at the chart's left edge
    ticks = browser.execute_script(
        "const u = document.querySelector('#plot').uplot;"
        "return {n: u.axes[1]._splits.length, left: u.bbox.left / devicePixelRatio,"
        " size: u.axes[1]._size};"
    )
    assert ticks["n"] >= 5 and ticks["left"] >= ticks["size"] > 20
    browser.save_screenshot(str(SHOTS / "plot-uplot.png"))


@pytest.mark.parametrize("kind", ["file", "postgres"])
def test_header_and_export_links(browser: Any, kind: str, request: pytest.FixtureRequest) -> None:
    from selenium.webdriver.common.by import By

    locator: str = request.getfixturevalue(f"{kind}_locator")
    scratch = request.getfixturevalue("tmp_path")
    wait = waiter(browser)
    with running_atlas(locator, scratch / "atlas.log") as atlas:
        browser.get(f"{atlas.url}/?h=1#/e/sweep")
        wait.until(lambda d: d.find_element(By.ID, "range").text.endswith("of 24"))
        kind_text = {"file": "store files", "postgres": "store PostgreSQL"}[kind]
        wait.until(lambda d: d.find_element(By.ID, "store-kind").text == kind_text)
        store = browser.find_element(By.ID, "store")
        assert not store.is_displayed()
        browser.find_element(By.ID, "store-button").click()
        wait.until(lambda d: store.is_displayed())
        shown = store.text
        page = browser.page_source
        if kind == "postgres":
            assert shown.startswith("postgresql://") and "passfile=***" in shown
            passfile = locator.split("passfile=")[1].split("&")[0]
            assert passfile not in page
        else:
            assert shown == locator
        href = browser.find_element(By.ID, "export-csv").get_attribute("href")
        assert "/api/experiments/sweep/export?format=csv" in href
        text = httpx.get(href, timeout=30).text
        assert text.splitlines()[0].startswith("run_id,status,") and len(text.splitlines()) == 25


def test_name_version_routes_and_floats_in_the_runs_table(browser: Any, sweep: Atlas) -> None:
    """Upstream's ``curves:1`` in the page's address works like the directory's name, and
    the float learning rate 1.0 reads ``1.0`` in the table and on the run page."""
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    browser.get(f"{sweep.url}/?f=1#/e/curves%3A1")
    css = '#runs td[data-field="params.lr"]'
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, css)) == 12)
    shown = [c.text for c in browser.find_elements(By.CSS_SELECTOR, css)]
    assert set(shown) == {"0.01", "0.1", "1.0"}
    row = next(
        r
        for r in browser.find_elements(By.CSS_SELECTOR, "#runs tr[data-run]")
        if r.find_element(By.CSS_SELECTOR, css).text == "1.0"
    )
    row.find_element(By.CSS_SELECTOR, "a").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#params td"))
    lr = browser.find_element(By.XPATH, "//table[@id='params']//tr[th='lr']/td")
    assert lr.text == "1.0"
    assert "curves%3A1/r/" in browser.current_url or "curves:1/r/" in browser.current_url
    assert browser.find_elements(By.CSS_SELECTOR, "#curves .curve")  # its stepped metrics


def test_histogram_page(browser: Any, sweep: Atlas) -> None:
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    query = {"field": "metrics.final_loss", "group": "params.lr", "bins": "5"}
    api = httpx.get(f"{sweep.url}/api/experiments/curves:1/histogram", params=query).json()
    browser.get(
        f"{sweep.url}/?h=2#/e/curves:1/histogram?field=metrics.final_loss&group=params.lr&bins=5"
    )
    wait.until(lambda d: len(legend(d, "#histogram")) == len(LRS))
    per_group = len(DEPTHS) * REPLICATES
    sizes = [per_group, per_group, per_group - REPLICATES]  # lr 1.0, depth 4 failed
    assert legend(browser, "#histogram") == [
        f"lr = {lr} (n={n})" for lr, n in zip(LRS, sizes, strict=True)
    ]
    drawn = chart(browser, "#histogram")
    assert drawn["data"][0] == pytest.approx(api["edges"])
    for i, series in enumerate(api["series"]):
        assert drawn["data"][1 + i][:-1] == series["counts"]
    info = browser.find_element(By.ID, "histogram-info").text
    assert (
        info == f"{sum(sizes)} of {len(LRS) * per_group} matching runs have a number in "
        f"metrics.final_loss ({len(LRS) * per_group - sum(sizes)} without)"
    )
    rows = browser.find_elements(By.CSS_SELECTOR, "#distributions tr[data-group]")
    assert [r.get_attribute("data-group") for r in rows] == [str(lr) for lr in LRS]
    ns = [r.find_element(By.CSS_SELECTOR, 'td[data-stat="n"]').text for r in rows]
    assert ns == [str(n) for n in sizes]

    browser.find_element(By.ID, "histogram-share").click()
    wait.until(
        lambda d: (
            chart(d, "#histogram")["labels"]
            and sum(chart(d, "#histogram")["data"][3][:-1]) == pytest.approx(1.0)
        )
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "histogram.png"))
    set_control(browser, "histogram-field", "params.lr")
    set_control(browser, "histogram-group", "")
    wait.until(lambda d: legend(d, "#histogram") == [f"params.lr (n={len(LRS) * per_group})"])
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_compare_with_a_baseline_and_only_differences(browser: Any, sweep: Atlas) -> None:
    """Three runs of ``curves:1`` side by side: differing rows highlighted, each number's
    difference from the baseline, the baseline moved by a click, equal rows hidden."""
    from selenium.webdriver.common.by import By

    wait = waiter(browser)
    base = f"{sweep.url}/api/experiments/curves:1"
    rows = httpx.get(f"{base}/runs", params={"status": "success", "sort": "params.lr"}).json()
    first, second, last = (rows["runs"][i] for i in (0, 1, -1))
    ids = [first["run_id"], second["run_id"], last["run_id"]]
    browser.get(f"{sweep.url}/?k=1#/e/curves:1/compare?runs={','.join(ids)}")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#compare tr.diff"))
    headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#compare th a")]
    assert headers == ids
    assert browser.find_element(By.ID, "baseline").text == "baseline"

    def row(key: str) -> list[str]:
        css = f'#compare tr[data-key="{key}"] td'
        return [c.text for c in browser.find_elements(By.CSS_SELECTOR, css)][1:]

    lr = row("params.lr")
    assert lr[0] == "0.01" and lr[2].startswith("1.0 (+0.99")
    loss = [r["metrics"]["final_loss"] for r in (first, second, last)]
    sign = "+" if loss[2] > loss[0] else "−"
    assert row("metrics.final_loss")[2].endswith(f"({sign}{abs(loss[2] - loss[0]):.5g})")
    diff = browser.find_element(By.CSS_SELECTOR, '#compare tr[data-key="params.lr"]')
    assert "diff" in diff.get_attribute("class")
    assert row("run.status") == ["success"] * 3

    browser.find_element(By.CSS_SELECTOR, f'button.rebase[data-run="{ids[2]}"]').click()
    wait.until(lambda d: row("params.lr")[0].startswith("0.01 (−0.99"))
    assert "baseline=" in browser.current_url
    browser.find_element(By.ID, "compare-only").click()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '#compare tr[data-key="run.status"]'))
    assert browser.find_elements(By.CSS_SELECTOR, '#compare tr[data-key="params.lr"]')
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "compare-baseline.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
