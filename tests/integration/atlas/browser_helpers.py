"""Shared pieces of the Atlas browser tests: screenshot folder, waits, legend and controls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "atlas"


WAIT = 20.0


def waiter(driver: Any) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, ignored_exceptions=[StaleElementReferenceException])


def legend(driver: Any, host: str) -> list[str]:
    return list(
        driver.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' .legend-label')]"
            ".map((e) => e.textContent)",
            host,
        )
    )


def set_control(driver: Any, element_id: str, value: str, event: str = "change") -> None:
    driver.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event(arguments[2]));",
        element_id,
        value,
        event,
    )
