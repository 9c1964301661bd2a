"""The Atlas that `metalab services up` starts serves the project's store and its bundle."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from metalab._runstore.locator import parse_locator
from tests.integration.atlas.dataset import populate
from tests.integration.local_services import bundle_of, cli, make_project
from tests.support.components import postgres_missing, require

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


def test_services_up_atlas_reads_the_postgres_store_and_redacts_the_bundle(
    open_tmp: Path,
) -> None:
    require(postgres_missing())
    project = make_project(open_tmp, atlas_extra="", postgres_extra='password = "pw-s3cret-x"')
    try:
        up = cli(project, "services", "up")
        assert up.returncode == 0, up.stderr
        bundle = bundle_of(project)
        url = bundle["services"]["atlas"]["url"]  # type: ignore[index]
        token = Path(bundle["services"]["atlas"]["secret_ref"]).read_text().strip()  # type: ignore[index]
        auth = {"Authorization": f"Bearer {token}"}  # Atlas needs its token on loopback too
        locator = cli(project, "discover").stdout.strip()
        store = parse_locator(locator).open()
        try:
            populate(store)
        finally:
            store.close()
        with httpx.Client(base_url=url, headers=auth, timeout=10) as http:
            health = http.get("/api/health").json()
            assert health["store_kind"] == "postgres" and health["store_readable"]
            runs = http.get("/api/experiments/sweep/runs", params={"sort": "metrics.loss"})
            assert runs.json()["total"] == 24
            services = http.get("/api/services")
            body = services.json()
            assert body["found"] and set(body["bundle"]["services"]) == {"postgres", "atlas"}
            text = json.dumps(body)
            assert "pw-s3cret-x" not in text and "pw-s3cret-x" not in health["store"]
    finally:
        assert cli(project, "services", "down").returncode == 0
