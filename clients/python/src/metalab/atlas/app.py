"""The Atlas ASGI application."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from metalab._locator import redact_locator
from metalab.atlas.source import open_source


def create_app(store: str, token: str | None = None, bundle_path: str | None = None) -> Starlette:
    """Atlas for ``store``; every route requires ``token`` when one is given."""
    source = open_source(store)

    async def health(_request: Request) -> Response:
        readable, detail = await source.check()
        body: dict[str, Any] = {
            "status": "ok",
            "store": redact_locator(store),
            "store_kind": source.kind,
            "store_readable": readable,
        }
        if detail:
            body["detail"] = detail
        return JSONResponse(body)

    async def runs(request: Request) -> Response:
        limit = min(int(request.query_params.get("limit", "100")), 1000)
        return JSONResponse({"runs": await source.runs(limit)})

    routes = [Route("/api/health", health), Route("/api/runs", runs)]
    middleware = []
    if token:
        expected = token.encode()

        async def require_token(request: Request, call_next: Any) -> Response:
            supplied = request.headers.get("authorization", "").removeprefix("Bearer ")
            supplied = supplied or request.query_params.get("token", "")
            if not hmac.compare_digest(supplied.encode(), expected):
                return JSONResponse({"error": "token required"}, status_code=401)
            response: Response = await call_next(request)
            return response

        # Starlette 1.x dropped the @app.middleware decorator: declare it up front.
        middleware.append(Middleware(BaseHTTPMiddleware, dispatch=require_token))
    return Starlette(routes=routes, middleware=middleware)
