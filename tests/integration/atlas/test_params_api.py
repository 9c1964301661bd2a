"""Bad parameters, methods and paths against a real Atlas process (both stores): the answers
clients have always had, now from Atlas's own checks (`metalab_atlas.params`)."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.atlas.dataset import run_id

E = "/api/experiments/sweep"
NOT_INT = "Input should be a valid integer, unable to parse string as an integer"
NOT_BOOL = "Input should be a valid boolean, unable to interpret input"


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (f"{E}/runs?limit=abc", f"limit: {NOT_INT}"),
        (f"{E}/runs?offset=1e20", f"offset: {NOT_INT}"),
        (f"{E}/runs?limit=1.5&offset=x", f"offset: {NOT_INT}; limit: {NOT_INT}"),
        (f"{E}/runs?limit=1&limit=x", f"limit: {NOT_INT}"),
        (f"{E}/runs?limit=", f"limit: {NOT_INT}"),
        (f"{E}/runs?where=bad", "filter 'bad' is not field:op:value"),
        (
            f"{E}/runs?where=params.lr:zz:1",
            "filter operator 'zz' is not one of eq, lt, gt, contains",
        ),
        (f"{E}/runs?sort=nope", "unknown field 'nope'"),
        (f"{E}/runs?order=sideways", "order must be asc or desc"),
        (f"{E}/plot", "x: Field required; y: Field required"),
        (f"{E}/plot?y=metrics.loss&where=x", "x: Field required"),
        (f"{E}/histogram?field=metrics.loss&bins=x", f"bins: {NOT_INT}"),
        (f"{E}/curves?runs=x&points=y", f"runs: {NOT_INT}; points: {NOT_INT}"),
        (f"{E}/export?limit=zz&format=json", f"limit: {NOT_INT}"),
        ("/api/search?limit=x", f"limit: {NOT_INT}"),
        (f"{E}/runs/{run_id(0)}/artifacts/plot.png?download=maybe", f"download: {NOT_BOOL}"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(client: httpx.Client, path: str, error: str) -> None:
    response = client.get(path)
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_integers_and_booleans_are_read_leniently(client: httpx.Client) -> None:
    for limit in ("5.0", " 5 ", "+5", "0_5"):
        page = client.get(f"{E}/runs", params={"limit": limit})
        assert page.status_code == 200 and page.json()["limit"] == 5, limit
    saved = client.get(f"{E}/runs/{run_id(0)}/artifacts/plot.png", params={"download": "YES"})
    assert saved.headers["content-disposition"].startswith("attachment")


def test_methods_and_paths_outside_the_routes(client: httpx.Client) -> None:
    assert client.head("/api/health").status_code == 405
    posted = client.post("/api/health")
    assert posted.status_code == 405 and posted.headers["allow"] == "GET"
    assert posted.json() == {"detail": "Method Not Allowed"}
    for path in ("/api/nope", "/api/health/", f"{E}/"):  # no redirect for a trailing slash
        missing = client.get(path)
        assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"}), path


def test_openapi_lists_every_path_with_its_parameters(client: httpx.Client) -> None:
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] == "Atlas"
    assert len(doc["paths"]) == 20
    plot = doc["paths"]["/api/experiments/{experiment_id}/plot"]["get"]
    required = [(p["name"], p["in"]) for p in plot["parameters"] if p["required"]]
    assert required == [("experiment_id", "path"), ("x", "query"), ("y", "query")]
    artifact = doc["paths"]["/api/experiments/{experiment_id}/runs/{run_id}/artifacts/{path}"]
    download = artifact["get"]["parameters"][-1]
    assert download["name"] == "download" and download["schema"]["type"] == "boolean"
