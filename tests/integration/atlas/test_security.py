"""Traversal, injection through field names, and the token on every route."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from metalab_atlas.query import NotFound, QueryError
from metalab_atlas.runfiles import RunFiles
from tests.integration.atlas.dataset import run_id
from tests.integration.atlas.server import Atlas, running_atlas

pytestmark = pytest.mark.timeout(120)
TOKEN = "tok-" + "x" * 40
ARTIFACTS = f"/api/experiments/sweep/runs/{run_id(0)}/artifacts"


@pytest.mark.parametrize(
    "path",
    [
        "%2e%2e/run.json",
        "%2e%2e%2frun.json",
        "..%2f..%2f..%2fexperiment.json",
        "sub/%2e%2e/%2e%2e/run.json",
        "%252e%252e/run.json",
        "..%5crun.json",
        "%2fetc%2fpasswd",
        "sub/..",
        "notes.txt%00.png",
    ],
)
def test_artifact_route_refuses_traversal(client: httpx.Client, path: str) -> None:
    response = client.get(f"{ARTIFACTS}/{path}")
    assert response.status_code in (400, 404), (path, response.status_code)
    assert b"metalab.run/1" not in response.content and b"root:" not in response.content


def test_artifact_symlink_out_of_the_run_is_refused(tmp_path: Path) -> None:
    files = RunFiles(tmp_path)
    artifacts = files.run_dir("sweep", run_id(1)) / "artifacts"
    artifacts.mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("secret")
    (artifacts / "escape.txt").symlink_to(tmp_path / "secret.txt")
    (artifacts / "inside.txt").write_text("fine")
    (artifacts / "ok.txt").symlink_to(artifacts / "inside.txt")
    with pytest.raises(NotFound):
        files.artifact_path("sweep", run_id(1), "escape.txt")
    assert files.artifact_path("sweep", run_id(1), "ok.txt").read_text() == "fine"
    with pytest.raises(QueryError):
        files.artifact_path("sweep", run_id(1), "../run.json")
    with pytest.raises(QueryError):
        files.artifact_path("../x", run_id(1), "a")


@pytest.mark.parametrize(
    "path", ["/static/..%2fapp.py", "/static/%2e%2e%2f__init__.py", "/static/../app.py"]
)
def test_static_route_refuses_traversal(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404 and b"import" not in response.content


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "params.lr'); DROP TABLE runs; --"},
        {"sort": "metrics.loss; DROP TABLE runs"},
        {"sort": "run_id DESC, (SELECT pg_sleep(1))"},
        {"where": "params.lr') OR 1=1 --:eq:1"},
        {"where": "status:eq:x' OR '1'='1"},
        {"where": "params.lr:eq:0.01' OR '1'='1"},
        {"where": "params.opt:contains:%' OR 1=1 --"},
        {"q": "'; DROP TABLE runs; --"},
        {"order": "desc; DROP TABLE runs"},
    ],
)
def test_injection_through_sort_and_filter_is_data(
    client: httpx.Client, params: dict[str, str]
) -> None:
    response = client.get("/api/experiments/sweep/runs", params=params)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json()["total"] == 0
    assert client.get("/api/experiments/sweep/runs").json()["total"] == 24  # table intact


def test_unknown_ids_are_rejected(client: httpx.Client) -> None:
    assert client.get("/api/experiments/..%2f..%2fetc/runs").status_code in (400, 404)
    assert client.get("/api/experiments/sweep/runs/..%2f..").status_code in (400, 404)
    assert client.get("/api/experiments/sweep/runs/not-a-run-id").status_code == 400


@pytest.fixture(scope="module")
def guarded(file_locator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Atlas]:
    log = tmp_path_factory.mktemp("guarded") / "atlas.log"
    with running_atlas(file_locator, log, host="0.0.0.0", token=TOKEN) as server:
        yield server


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/static/app.js",
        "/static/style.css",
        "/api/health",
        "/api/openapi.json",
        "/api/experiments",
        f"{ARTIFACTS}/notes.txt",
        "/nope",
    ],
)
def test_every_route_needs_the_token_beyond_loopback(guarded: Atlas, path: str) -> None:
    with httpx.Client(base_url=guarded.url) as http:
        assert http.get(path).status_code == 401
        wrong = http.get(path, headers={"Authorization": f"Bearer {TOKEN[:-1]}y"})
        assert wrong.status_code == 401
        assert http.get(path, params={"token": "nope"}).status_code == 401
        bad_cookie = {"Cookie": "atlas_token=nope"}
        assert http.get(path, headers=bad_cookie).status_code == 401
        ok = http.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == (404 if path == "/nope" else 200)


def test_token_in_the_url_logs_the_browser_in_with_a_cookie(guarded: Atlas) -> None:
    with httpx.Client(base_url=guarded.url) as http:
        login = http.get("/", params={"token": TOKEN, "x": "1"})
        assert login.status_code == 303 and login.headers["location"] == "/?x=1"
        cookie = login.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert http.get("/static/app.js").status_code == 200  # the cookie now does it
        assert http.get("/api/experiments").status_code == 200
    page = httpx.get(f"{guarded.url}/", headers={"Accept": "text/html"})
    assert page.status_code == 401 and "<form" in page.text and TOKEN not in page.text
    assert TOKEN not in guarded.log.read_text()


def test_login_redirect_never_leaves_the_site(guarded: Atlas) -> None:
    response = httpx.get(f"{guarded.url}//evil.example/", params={"token": TOKEN})
    assert response.status_code == 303 and response.headers["location"].startswith("/evil")


def test_refuses_a_public_address_without_a_token(file_locator: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "metalab_atlas",
            "--store",
            file_locator,
            "--host",
            "0.0.0.0",
            "--port",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "without a token" in done.stderr
