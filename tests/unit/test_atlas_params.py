"""Atlas's hand-checked parameters (`metalab_atlas.params`) and the OpenAPI document built from
the same route table (`metalab_atlas.openapi`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.datastructures import QueryParams

from metalab_atlas.app import create_app
from metalab_atlas.endpoints import ApiRoute
from metalab_atlas.openapi import document
from metalab_atlas.params import NOT_BOOL, NOT_INT, Param, bind, convert, signature_params
from metalab_atlas.query import QueryError


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5), (" 5\t", 5), ("+5", 5), ("-5", -5), ("5.0", 5), ("-5.00", -5), ("1_000", 1000)],
)
def test_integers_read_as_they_always_were(text: str, value: int) -> None:
    assert convert("int", text) == value


@pytest.mark.parametrize(
    "text",
    ["", " ", "x", "5.5", "5.", ".5", "1e3", "1e20", "0x10", "1__0", "_1", "1_", "５", "5\x1c"],
)
def test_non_integers_are_refused_with_the_message_clients_know(text: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(NOT_INT)}$"):
        convert("int", text)


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("YES", True), ("On", True), ("0", False), ("f", False)]
)
def test_booleans(text: str, value: bool) -> None:
    assert convert("bool", text) is value


@pytest.mark.parametrize("text", ["", "2", "tru", " true", "maybe"])
def test_non_booleans_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(NOT_BOOL)}$"):
        convert("bool", text)


def endpoint(
    experiment_id: str,
    x: str,
    where: list[str] = [],  # noqa: B006 - bind copies it
    limit: int = 50,
    download: bool = False,
) -> None:
    """An endpoint's signature, as Atlas writes them."""


PARAMS = signature_params("/e/{experiment_id}", endpoint)


def test_the_signature_says_where_and_what_each_parameter_is() -> None:
    assert PARAMS == (
        Param("experiment_id", "path", "str"),
        Param("x", "query", "str"),
        Param("where", "query", "list", []),
        Param("limit", "query", "int", 50),
        Param("download", "query", "bool", False),
    )


def test_bind_converts_and_fills_defaults_with_fresh_lists() -> None:
    values = bind(PARAMS, {"experiment_id": "e"}, QueryParams("x=a&limit=7&limit=8"))
    assert values == {"experiment_id": "e", "x": "a", "where": [], "limit": 8, "download": False}
    values["where"].append("changed")
    assert bind(PARAMS, {"experiment_id": "e"}, QueryParams("x=a"))["where"] == []
    repeated = bind(PARAMS, {"experiment_id": "e"}, QueryParams("x=&where=a&where=&download=1"))
    assert repeated["x"] == "" and repeated["where"] == ["a", ""] and repeated["download"] is True


def test_every_problem_is_named_in_one_400_message() -> None:
    with pytest.raises(QueryError) as caught:
        bind(PARAMS, {"experiment_id": "e"}, QueryParams("limit=1.5&download=maybe"))
    assert str(caught.value) == (f"x: Field required; limit: {NOT_INT}; download: {NOT_BOOL}")


def test_a_long_message_is_cut_at_500_characters() -> None:
    many = tuple(Param(f"p{i}", "query", "int") for i in range(40))
    with pytest.raises(QueryError) as caught:
        bind(many, {}, QueryParams(""))
    assert len(str(caught.value)) == 500 and str(caught.value).startswith("p0: Field required; ")


def test_an_unsupported_annotation_is_refused_when_the_route_is_built() -> None:
    def odd(limit: float = 1.0) -> None:
        """Not a type Atlas reads."""

    with pytest.raises(TypeError, match="limit"):
        signature_params("/odd", odd)


def test_openapi_lists_every_api_route_with_its_parameters(tmp_path: Path) -> None:
    app = create_app(str(tmp_path))
    routes = [r for r in app.routes if isinstance(r, ApiRoute) and r.path.startswith("/api/")]
    doc = document(app.routes)
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "Atlas"
    assert len(routes) == len(doc["paths"]) == 20
    for route in routes:
        operation = doc["paths"][route.path.replace("{path:path}", "{path}")]["get"]
        listed = [(p["name"], p["in"], p["required"]) for p in operation.get("parameters", [])]
        assert listed == [(p.name, p.where, p.required) for p in route.params]
        assert operation["description"] and "200" in operation["responses"]
    runs = doc["paths"]["/api/experiments/{experiment_id}/runs"]["get"]["parameters"]
    where = next(p for p in runs if p["name"] == "where")
    assert where["schema"]["type"] == "array" and "op is eq" in where["description"]
    limit = next(p for p in runs if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "default": 50, "title": "Limit"}
    assert not any(path.startswith("/static") or path == "/" for path in doc["paths"])
