"""The search modal and keyboard shortcuts in real headless Chromium, on both stores: `/`
opens a search whose results are the API's and open with the keyboard; `g e` / `g r` move
between pages; `?` lists the shortcuts; dialogs keep focus inside and close on Esc."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.atlas.browser_helpers import SHOTS, waiter
from tests.integration.atlas.dataset import records
from tests.integration.atlas.server import Atlas

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def press(driver: Any, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:
        ActionChains(driver).send_keys(key).perform()


def focused(driver: Any) -> str:
    """The focused element's id (or tag), and whether it is inside an open dialog."""
    found: str = driver.execute_script(
        "const a = document.activeElement;"
        "const inside = !!(a && a.closest('[role=dialog]'));"
        "return `${a ? a.id || a.tagName : ''}${inside ? ' in dialog' : ''}`;"
    )
    return found


def test_search_modal_and_shortcuts(browser: Any, atlas: Atlas) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    wait = waiter(browser)
    browser.get(f"{atlas.url}/#/")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#experiments tr[data-experiment]"))

    # ? lists the shortcuts in a modal dialog that holds the focus; Esc closes it
    press(browser, "?")
    box = wait.until(lambda d: d.find_element(By.ID, "shortcuts"))
    assert box.get_attribute("role") == "dialog" and box.get_attribute("aria-modal") == "true"
    keys = [r.find_element(By.TAG_NAME, "td").text for r in box.find_elements(By.TAG_NAME, "tr")]
    assert keys[:3] == ["/", "g e", "g r"] and "?" in keys
    assert focused(browser).endswith(" in dialog")
    for _ in range(3):
        press(browser, Keys.TAB)
        assert focused(browser).endswith(" in dialog")
    press(browser, Keys.ESCAPE)
    wait.until(lambda d: not d.find_elements(By.ID, "shortcuts"))
    assert not focused(browser).endswith(" in dialog")

    # / opens the search; results are the API's, arrows move, Enter opens a run
    press(browser, "/")
    wait.until(lambda d: focused(d) == "search-input in dialog")
    press(browser, "adam")
    wait.until(lambda d: d.find_element(By.ID, "search-status").text == "0 experiments, 12 runs")
    results = browser.find_elements(By.CSS_SELECTOR, "#search-results a")
    adam = [r for r in records() if r.params["opt"] == "adam"]
    assert len(results) == len(adam)
    assert all("opt=adam" in r.text for r in results)
    assert [r.get_attribute("aria-selected") for r in results[:2]] == ["true", "false"]
    press(browser, Keys.TAB)
    assert focused(browser).endswith(" in dialog")  # Tab stays in the dialog
    press(browser, Keys.TAB)
    assert focused(browser) == "search-input in dialog"
    press(browser, Keys.ARROW_DOWN)
    assert results[1].get_attribute("aria-selected") == "true"
    assert browser.find_element(By.ID, "search-input").get_attribute(
        "aria-activedescendant"
    ) == results[1].get_attribute("id")
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "search.png"))
    press(browser, Keys.ENTER)
    wait.until(lambda d: d.find_element(By.ID, "run-id").text == adam[1].run_id)
    assert not browser.find_elements(By.ID, "search-dialog")

    # g r: the runs of the experiment shown; g e: the experiments; g r again: the last one
    press(browser, "g", "r")
    wait.until(lambda d: d.execute_script("return location.hash") == "#/e/sweep")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#runs tr"))
    press(browser, "g", "e")
    wait.until(lambda d: d.execute_script("return location.hash") == "#/")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#experiments tr[data-experiment]"))
    press(browser, "g", "r")
    wait.until(lambda d: d.execute_script("return location.hash") == "#/e/sweep")

    # typing in a field is typing: `/` in the runs search does not open the dialog
    field = wait.until(lambda d: d.find_element(By.ID, "search"))
    field.send_keys("a/b")
    assert field.get_attribute("value") == "a/b" and not browser.find_elements(
        By.ID, "search-dialog"
    )

    # an experiment by name, opened with a click; the header button opens the search too
    browser.execute_script("document.activeElement.blur()")
    browser.find_element(By.ID, "search-button").click()
    wait.until(lambda d: focused(d) == "search-input in dialog")
    press(browser, "other")
    first = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results a[data-kind=experiment]")
    )[0]
    assert first.text.startswith("EXPERIMENT other") or first.text.startswith("experiment other")
    first.click()
    wait.until(lambda d: d.execute_script("return location.hash") == "#/e/other")
    assert not browser.find_elements(By.ID, "search-dialog")
