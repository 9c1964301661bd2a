"""Screenshots of Atlas's pages for docs/atlas.md, from data anyone can regenerate.

    python scripts/atlas_screenshots.py [--out docs/img]

Writes a sweep with learning curves through ``metalab.run`` (3 learning rates × 2 depths ×
2 seeds, two failing runs; tests/integration/atlas/curves_data.py), two runs that capture
arrays (tests/integration/atlas/arrays_data.py; needs numpy) and a copy of the upstream-written
fixture (tests/fixtures/upstream_layout) into a temporary FileStore, serves
it with ``python -m metalab_atlas`` and photographs each page in headless Chromium
(/usr/bin/chromium and chromedriver, selenium). Then a directory of stores: a sweep whose
facets hold different groups (tests/integration/atlas/facet_colours_data.py) at its root,
a copy of the first store in ``lab-a/`` and of the upstream fixture in ``group/lab-b/``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.atlas.arrays_data import write_arrays  # noqa: E402
from tests.integration.atlas.curves_data import write_sweep  # noqa: E402
from tests.integration.atlas.facet_colours_data import write_sweep as write_colours  # noqa: E402
from tests.integration.atlas.server import running_atlas  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "upstream_layout"
WAIT = 20.0


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,900"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def visit(driver: Any, url: str, ready: str, out: Path, before: str = "") -> None:
    """Open ``url``, wait for the CSS selector ``ready``, run ``before`` (JS), save ``out``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.CSS_SELECTOR, ready)))
    if before:
        driver.execute_script(before)
        time.sleep(0.3)  # let the chart redraw before the picture (not a measurement)
    driver.save_screenshot(str(out))
    print(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "store"
        write_sweep(str(root))
        write_arrays(str(root))
        shutil.copytree(FIXTURE / "sweep_0.1", root / "sweep_0.1")
        with running_atlas(str(root), Path(scratch) / "atlas.log") as atlas:
            driver = browser()
            try:
                base = f"{atlas.url}/#/e/curves_1"
                visit(driver, f"{atlas.url}/#/", "#experiments", out / "atlas-overview.png")
                visit(driver, base, "#runs", out / "atlas-runs.png")
                visit(
                    driver,
                    f"{base}/curves?group=params.lr",
                    "#curves-chart .legend-item",
                    out / "atlas-curves-mean.png",
                )
                visit(
                    driver,
                    f"{base}/curves?group=params.lr",
                    "#curves-chart .legend-item",
                    out / "atlas-curves-runs-smoothed-log.png",
                    "const m = document.getElementById('curves-mode'); m.value = 'runs';"
                    "m.dispatchEvent(new Event('change'));"
                    "const s = document.getElementById('curves-smooth'); s.value = '0.6';"
                    "s.dispatchEvent(new Event('input'));"
                    "document.getElementById('curves-log').click();"
                    "document.querySelector('#curves-chart .legend-item')"
                    ".dispatchEvent(new Event('mouseenter'));",
                )
                visit(
                    driver,
                    f"{base}/plot?x=params.lr&y=metrics.final_loss&group=params.depth",
                    "#plot .legend-item",
                    out / "atlas-plot.png",
                    "document.getElementById('plot-logx').click();",
                )
                visit(
                    driver,
                    f"{base}/histogram?field=metrics.final_loss&group=params.depth&bins=12",
                    "#histogram .legend-item",
                    out / "atlas-histogram.png",
                )
                rows = httpx.get(
                    f"{atlas.url}/api/experiments/curves_1/runs",
                    params={"sort": "params.lr", "limit": 500},
                ).json()["runs"]
                failed = next(r["run_id"] for r in rows if r["status"] == "failed")
                chosen = [rows[0]["run_id"], rows[1]["run_id"], failed]
                visit(
                    driver,
                    f"{atlas.url}/#/e/curves:1/compare?runs={','.join(chosen)}",
                    "#compare tr.diff",
                    out / "atlas-compare.png",
                )
                visit(
                    driver,
                    f"{base}/curves?group=params.lr&facet=params.depth",
                    "#curves-chart .facets[data-facets='2']",
                    out / "atlas-curves-facets.png",
                )
                visit(
                    driver,
                    f"{base}/histogram?field=metrics.final_loss&facet=params.depth&bins=12",
                    "#histogram .facets[data-facets='2']",
                    out / "atlas-histogram-facets.png",
                )
                arrays = httpx.get(f"{atlas.url}/api/experiments/arrays:1/runs").json()["runs"]
                visit(
                    driver,
                    f"{atlas.url}/#/e/arrays:1/r/{arrays[0]['run_id']}",
                    ".array canvas.heatmap",
                    out / "atlas-run-arrays.png",
                    "document.getElementById('arrays').scrollIntoView();",
                )
                visit(
                    driver,
                    f"{atlas.url}/#/",
                    "#experiments",
                    out / "atlas-search.png",
                    "document.getElementById('search-button').click();"
                    "const i = document.getElementById('search-input'); i.value = '1.0';"
                    "i.dispatchEvent(new Event('input'));",
                )
                visit(
                    driver,
                    f"{atlas.url}/#/e/sweep_0.1/curves?group=params.lr",
                    "#curves-chart .legend-item",
                    out / "atlas-upstream-curves.png",
                    "document.getElementById('store-button').click();",
                )
            finally:
                driver.quit()
        stores(root, Path(scratch), out)


def stores(first: Path, scratch: Path, out: Path) -> None:
    """The directory of stores: its overview and the facets of its root's sweep."""
    root = scratch / "stores"
    write_colours(str(root))
    shutil.copytree(first, root / "lab-a", ignore=shutil.ignore_patterns("services"))
    shutil.copytree(FIXTURE / "sweep_0.1", root / "group" / "lab-b" / "sweep_0.1")
    with running_atlas(str(root), scratch / "atlas-stores.log") as atlas:
        driver = browser()
        try:
            visit(driver, f"{atlas.url}/#/", "#stores", out / "atlas-stores.png")
            visit(
                driver,
                f"{atlas.url}/#/e/colours_1/curves?group=params.lr&facet=params.depth",
                "#curves-chart .facets[data-facets='2'] .legend-item",
                out / "atlas-curves-facet-colours.png",
            )
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
