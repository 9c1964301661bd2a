"""``/api/openapi.json``: an OpenAPI 3.1 document of the API, built from the route table.

Built on the first request for it (nothing at start-up): per route its tag, summary (the
function's name), description (its docstring), parameters (`metalab_atlas.params`) and
answers — 200 and the ``{"error": …}`` of a 400 (a bad parameter) or 404.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from metalab_atlas.endpoints import ApiRoute
from metalab_atlas.params import Param

INFO = {"title": "Atlas", "description": "The metalab experiment dashboard.", "version": "1"}
DESCRIPTIONS = {"where": "field:op:value; op is eq, lt, gt or contains"}
TYPES = {"str": "string", "int": "integer", "bool": "boolean"}
ERROR = {"$ref": "#/components/schemas/Error"}
COMPONENTS = {
    "schemas": {
        "Error": {
            "type": "object",
            "properties": {"error": {"type": "string", "title": "Error"}},
            "required": ["error"],
            "title": "Error",
        }
    }
}


def document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI document of the documented `ApiRoute`s among ``routes``."""
    paths: dict[str, Any] = {}
    for route in routes:
        if isinstance(route, ApiRoute) and route.include_in_schema:
            paths[_plain(route.path)] = {"get": _operation(route)}
    return {"openapi": "3.1.0", "info": INFO, "paths": paths, "components": COMPONENTS}


class OpenApi:
    """`serve`: the endpoint answering `document` of the app's routes, built once, when first
    asked."""

    def __init__(self) -> None:
        self._body: dict[str, Any] | None = None

    async def serve(self, request: Request) -> Response:
        if self._body is None:
            self._body = document(request.app.routes)
        return JSONResponse(self._body)


def _plain(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def _title(name: str) -> str:
    return name.replace("_", " ").title()


def _operation(route: ApiRoute) -> dict[str, Any]:
    name = route.function.__name__
    if route.media_type == "application/json":
        schema: dict[str, Any] = {"type": "object", "additionalProperties": True}
    elif route.media_type.startswith("text/"):
        schema = {"type": "string"}
    else:
        schema = {"type": "string", "format": "binary"}
    responses: dict[str, Any] = {
        "200": {
            "description": "Successful Response",
            "content": {route.media_type: {"schema": schema}},
        }
    }
    if route.params:
        error = {"content": {"application/json": {"schema": ERROR}}}
        responses["400"] = {"description": "Bad parameter", **error}
        responses["404"] = {"description": "Not found", **error}
    operation: dict[str, Any] = {
        "tags": [route.tag],
        "summary": _title(name),
        "description": inspect.cleandoc(route.function.__doc__ or ""),
        "operationId": name + re.sub(r"\W", "_", _plain(route.path)) + "_get",
        "responses": responses,
    }
    if route.params:
        operation["parameters"] = [_parameter(p) for p in route.params]
    return operation


def _parameter(p: Param) -> dict[str, Any]:
    if p.kind == "list":
        schema: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    else:
        schema = {"type": TYPES[p.kind]}
    if not p.required:
        schema["default"] = p.default
    schema["title"] = _title(p.name)
    found: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required}
    if p.name in DESCRIPTIONS:
        found["description"] = DESCRIPTIONS[p.name]
    found["schema"] = schema
    return found
