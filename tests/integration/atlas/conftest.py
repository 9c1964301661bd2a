"""Atlas against a real FileStore and a real PostgresStore, each served by a real process."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from metalab._runstore.file import FileStore
from tests.integration.atlas.dataset import populate, populate_locator
from tests.integration.atlas.server import Atlas, running_atlas
from tests.support.components import (
    CHROMEDRIVER,
    CHROMIUM,
    chromium_missing,
    require,
)
from tests.support.postgres import PostgresServer


@pytest.fixture(scope="session")
def file_locator(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("filestore") / "runs"
    populate(FileStore(root))
    return str(root)


@pytest.fixture(scope="session")
def postgres_locator(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    files = tmp_path_factory.mktemp("pgstore") / "files"
    locator = f"{pg_server.dsn(pg_server.create_database())}&file_root={files}"
    return populate_locator(locator)


@pytest.fixture(scope="session", params=["file", "postgres"])
def atlas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Atlas]:
    """One Atlas process per store kind, shared by the read-only API tests."""
    locator = request.getfixturevalue(f"{request.param}_locator")
    log = tmp_path_factory.mktemp("atlas") / "atlas.log"
    with running_atlas(locator, log) as server:
        yield server


@pytest.fixture
def client(atlas: Atlas) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=atlas.url, timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require(chromium_missing())
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "upstream_layout"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Atlas]:
    pytest.importorskip("metalab.runner")
    from tests.integration.atlas.curves_data import write_sweep

    scratch = tmp_path_factory.mktemp("curves-ui")
    write_sweep(str(scratch / "store"))
    shutil.copytree(FIXTURE / "sweep_0.1", scratch / "store" / "sweep_0.1")
    with running_atlas(str(scratch / "store"), scratch / "atlas.log") as atlas:
        yield atlas


@pytest.fixture(scope="module", params=["file", "postgres"])
def sweep_atlas(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, str]]:
    """The ``metalab.run`` sweep in a FileStore or a PostgresStore, served by Atlas."""
    pytest.importorskip("metalab.runner")
    from tests.integration.atlas.curves_data import write_sweep

    scratch = tmp_path_factory.mktemp("curves")
    if request.param == "file":
        locator, experiment = str(scratch / "store"), "curves_1"
    else:
        server: PostgresServer = request.getfixturevalue("pg_server")
        locator = f"{server.dsn(server.create_database())}&file_root={scratch / 'files'}"
        experiment = "curves:1"
    write_sweep(locator)
    with (
        running_atlas(locator, Path(scratch) / "atlas.log") as atlas,
        httpx.Client(base_url=atlas.url, timeout=30) as http,
    ):
        yield http, f"/api/experiments/{experiment}"
