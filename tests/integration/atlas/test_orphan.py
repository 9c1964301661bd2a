"""Atlas stops when its services directory is deleted under it (metalab_atlas.orphan)."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

from tests.integration.atlas.server import running_atlas

GONE_WITHIN = 30.0


def test_atlas_stops_when_its_services_directory_is_removed(tmp_path: Path) -> None:
    store, services = tmp_path / "runs", tmp_path / "runs" / "services"
    services.mkdir(parents=True)
    log = tmp_path / "atlas.log"
    with running_atlas(str(store), log, token="t0k", bundle=services / "bundle.json") as atlas:
        time.sleep(2.5)  # a watch round with the directory present: Atlas serves on
        assert atlas.process.poll() is None
        shutil.rmtree(services)
        deadline = time.monotonic() + GONE_WITHIN
        while atlas.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        # uvicorn stops gracefully, then re-raises the signal it caught
        assert atlas.process.poll() in (0, -signal.SIGTERM), log.read_text()
    assert f"its services directory {services} was removed; stopping" in log.read_text()


def test_atlas_without_a_bundle_is_not_watched(tmp_path: Path) -> None:
    store = tmp_path / "runs"
    store.mkdir()
    log = tmp_path / "atlas.log"
    with running_atlas(str(store), log, token="t0k") as atlas:
        shutil.rmtree(store)
        time.sleep(2.5)
        assert atlas.process.poll() is None
