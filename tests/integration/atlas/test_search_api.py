"""``/api/search`` (the ``/`` modal) on a real FileStore and a real PostgresStore: experiments
by id or name, runs by id, param value or error, as the runs table's own search finds them;
bounded and checked."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.atlas.dataset import records

pytestmark = pytest.mark.timeout(120)


def test_experiments_by_name_and_runs_by_param_value(client: httpx.Client) -> None:
    found = client.get("/api/search", params={"q": "SWE"}).json()
    assert [e["experiment_id"] for e in found["experiments"]] == ["sweep"]
    assert found["experiments"][0]["runs"] == 24 and found["runs"] == []

    adam = client.get("/api/search", params={"q": "adam"}).json()
    assert adam["experiments"] == [] and not adam["truncated"]
    table = client.get("/api/experiments/sweep/runs", params={"q": "adam", "limit": 50}).json()
    assert [r["run_id"] for r in adam["runs"]] == [r["run_id"] for r in table["runs"]]
    assert len(adam["runs"]) == 12 and {r["params"]["opt"] for r in adam["runs"]} == {"adam"}
    assert {(r["experiment_id"], r["experiment_name"]) for r in adam["runs"]} == {
        ("sweep", "sweep")
    }


def test_runs_by_id_and_error(client: httpx.Client) -> None:
    wanted = records()[5]
    by_id = client.get("/api/search", params={"q": wanted.run_id}).json()
    assert [r["run_id"] for r in by_id["runs"]] == [wanted.run_id]
    assert by_id["runs"][0]["status"] == wanted.status
    failed = client.get("/api/search", params={"q": "DIVERGED"}).json()["runs"]
    assert {r["status"] for r in failed} == {"failed"}
    assert len(failed) == sum(r.status == "failed" for r in records())


def test_search_is_bounded_and_checked(client: httpx.Client) -> None:
    few = client.get("/api/search", params={"q": "adam", "limit": 3}).json()
    assert len(few["runs"]) == 3 and few["truncated"]
    bad: list[dict[str, str]] = [
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 201},
        {"q": "a", "limit": "0"},
    ]
    for params in bad:
        answer = client.get("/api/search", params=params)
        assert answer.status_code == 400 and answer.json()["error"], params
    assert client.get("/api/search", params={"q": "a", "limit": 51}).status_code == 400
    assert client.get("/api/search", params={"q": "a\x00"}).status_code == 400
