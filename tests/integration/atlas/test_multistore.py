"""Multi-store discovery on a real Atlas process: a directory holding its own experiments, a
store one level down (the project's layout) and one two levels down (upstream metalab's
layout, written by upstream itself), next to what must not be found: a store three levels
down, a store behind a symbolic link out of the root, a symbolic link to a store inside it,
a hidden directory and ``services``. Over HTTP and in headless Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.atlas.browser_helpers import SHOTS, waiter
from tests.integration.atlas.dataset import populate_locator, records
from tests.integration.atlas.server import Atlas, running_atlas

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "upstream_layout"
ROOT_RUNS = len(records())
UPSTREAM_RUNS = len(list((FIXTURE / "sweep_0.1" / "runs").glob("*.json")))


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Atlas]:
    scratch = tmp_path_factory.mktemp("multistore")
    root = scratch / "root"
    populate_locator(str(root))
    populate_locator(str(root / "lab-a"))
    shutil.copytree(FIXTURE / "sweep_0.1", root / "group" / "lab-b" / "sweep_0.1")
    populate_locator(str(root / "group" / "deeper" / "still" / "too-deep"))
    populate_locator(str(root / ".hidden"))
    populate_locator(str(root / "services"))
    populate_locator(str(scratch / "outside"))
    (root / "escape").symlink_to(scratch / "outside")
    (root / "group" / "alias").symlink_to(root / "lab-a")
    with running_atlas(str(root), scratch / "atlas.log") as atlas:
        yield atlas


def test_stores_are_listed_and_their_experiments_served(stores: Atlas) -> None:
    with httpx.Client(base_url=stores.url, timeout=30) as client:
        listing = client.get("/api/stores").json()
        assert [(s["key"], s["path"]) for s in listing["stores"]] == [
            ("", "."),
            ("group.lab-b", "group/lab-b"),
            ("lab-a", "lab-a"),
        ]
        assert [s["runs"] for s in listing["stores"]] == [ROOT_RUNS, UPSTREAM_RUNS, ROOT_RUNS]
        assert listing["truncated"] is False and listing["limits"] == {"depth": 2, "stores": 32}

        ids = sorted(
            e["experiment_id"] for e in client.get("/api/experiments").json()["experiments"]
        )
        assert ids == ["group.lab-b::sweep_0.1", "lab-a::other", "lab-a::sweep", "other", "sweep"]

        own = client.get("/api/experiments/sweep/runs", params={"limit": 500}).json()
        nested = client.get("/api/experiments/lab-a::sweep/runs", params={"limit": 500}).json()
        assert nested["total"] == own["total"] == ROOT_RUNS
        assert [r["run_id"] for r in nested["runs"]] == [r["run_id"] for r in own["runs"]]

        first = records()[0].run_id
        run = client.get(f"/api/experiments/lab-a::sweep/runs/{first}").json()
        assert any(a["path"] == "notes.txt" for a in run["artifacts"])
        text = client.get(f"/api/experiments/lab-a::sweep/runs/{first}/artifacts/notes.txt")
        assert text.status_code == 200 and text.text == "hello artifact"
        steps = client.get(f"/api/experiments/lab-a::sweep/runs/{first}/steps").json()
        assert len(steps["steps"]["loss"]) == 10

        # upstream's layout two levels down, by its own name:version as well
        upstream = client.get("/api/experiments/group.lab-b::sweep:0.1").json()
        assert upstream["experiment_id"] == "group.lab-b::sweep_0.1"
        assert upstream["runs"] == UPSTREAM_RUNS
        curves = client.get("/api/experiments/group.lab-b::sweep_0.1/curves").json()
        assert curves["metric"] == "loss" and curves["runs"]

        found = client.get("/api/search", params={"q": "sweep"}).json()
        assert {e["experiment_id"] for e in found["experiments"]} >= {"sweep", "lab-a::sweep"}

        # unknown stores and keys that are no store's
        for bad, status in [
            ("nope::sweep", 404),
            ("escape::sweep", 404),
            ("group.alias::sweep", 404),
            ("group.deeper.still.too-deep::sweep", 404),
            ("..::sweep", 400),
            (".hidden::sweep", 400),
        ]:
            answer = client.get(f"/api/experiments/{bad}")
            assert answer.status_code == status, (bad, answer.text)


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_overview_switches_between_stores(stores: Atlas, browser: Any) -> None:
    driver = browser
    wait = waiter(driver)

    def shown(d: Any) -> list[tuple[str, str]]:
        return [
            (r.get_attribute("data-experiment"), r.find_elements("css selector", "td")[1].text)
            for r in d.find_elements("css selector", "#experiments tr[data-experiment]")
        ]

    driver.get(f"{stores.url}/#/")
    wait.until(lambda d: len(shown(d)) == 5)
    picker = driver.find_element("id", "stores").text
    assert picker.startswith("3 stores: all stores 5 experiments")
    assert f"lab-a 2 experiments, {ROOT_RUNS} runs" in picker
    assert f"group/lab-b 1 experiment, {UPSTREAM_RUNS} runs" in picker
    assert sorted(shown(driver)) == [
        ("group.lab-b::sweep_0.1", "group/lab-b"),
        ("lab-a::other", "lab-a"),
        ("lab-a::sweep", "lab-a"),
        ("other", "(root)"),
        ("sweep", "(root)"),
    ]
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / "multistore-overview.png"))

    driver.find_element("css selector", "#stores a[data-store='lab-a']").click()
    wait.until(lambda d: sorted(shown(d)) == [("lab-a::other", "lab-a"), ("lab-a::sweep", "lab-a")])
    driver.find_element("css selector", "#stores a[data-store='.']").click()
    wait.until(lambda d: sorted(e for e, _ in shown(d)) == ["other", "sweep"])

    # into a nested store's experiment: its runs table
    driver.get(f"{stores.url}/#/?store=lab-a")
    wait.until(lambda d: len(shown(d)) == 2)
    driver.find_element("css selector", "tr[data-experiment='lab-a::sweep'] a").click()
    wait.until(lambda d: "lab-a%3A%3Asweep" in d.current_url or "lab-a::sweep" in d.current_url)
    wait.until(lambda d: len(d.find_elements("css selector", "#runs tr[data-run]")) == ROOT_RUNS)
    back = driver.find_element("id", "tab-store")
    assert back.text == "store lab-a"
    back.click()
    wait.until(lambda d: sorted(shown(d)) == [("lab-a::other", "lab-a"), ("lab-a::sweep", "lab-a")])
