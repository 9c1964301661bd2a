"""API routes: a plain function per endpoint, its parameters bound from its signature.

An endpoint takes typed keyword arguments (`metalab_atlas.params`) and returns a dict, sent as
compact JSON (`ApiJSON`), or a `Response`. It runs in a worker thread, as Starlette runs every
plain function, parameters checked and answer rendered there too. Only GET is routed (HEAD is
a 405, as it always was).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from metalab_atlas.params import Param, bind, signature_params


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


class StrictJSON(JSONResponse):
    """JSON that strict parsers read: non-finite floats become "NaN"/"Infinity" strings."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, allow_nan=False, separators=(",", ":"))
        except ValueError:
            text = json.dumps(_finite(content), allow_nan=False, separators=(",", ":"))
        return text.encode()


class ApiJSON(JSONResponse):
    """An endpoint's answer: compact ASCII JSON; a non-finite float (never a value the store
    holds, those are strings) is null, a set or tuple a list."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(content, allow_nan=False, separators=(",", ":"))
        except (ValueError, TypeError):
            text = json.dumps(_jsonable(content), allow_nan=False, separators=(",", ":"))
        return text.encode()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class ApiRoute(Route):
    """A GET route to ``function``; ``tag`` and ``media_type`` document it (`openapi`),
    unless not ``schema``."""

    def __init__(
        self,
        path: str,
        function: Callable[..., Any],
        tag: str,
        media_type: str = "application/json",
        schema: bool = True,
    ) -> None:
        self.function = function
        self.tag = tag
        self.media_type = media_type
        self.params: tuple[Param, ...] = signature_params(path, function)
        super().__init__(
            path, self._handle, methods=["GET"], name=function.__name__, include_in_schema=schema
        )
        self.methods = {"GET"}

    def _handle(self, request: Request) -> Response:
        values = bind(self.params, request.path_params, request.query_params)
        answer = self.function(**values)
        return answer if isinstance(answer, Response) else ApiJSON(answer)


class Routes(list[Route]):
    """The route table, filled by decorators: ``@routes.get(path, tag)``."""

    def get(
        self, path: str, tag: str = "", media_type: str = "application/json", schema: bool = True
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(function: Callable[..., Any]) -> Callable[..., Any]:
            self.append(ApiRoute(path, function, tag, media_type, schema))
            return function

        return add
