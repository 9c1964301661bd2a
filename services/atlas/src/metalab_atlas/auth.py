"""Token check for every route (API and static) when Atlas listens beyond loopback.

A request is let through with ``Authorization: Bearer <token>``, the ``atlas_token`` cookie, or
``?token=`` — the last one answers with a redirect that sets the cookie (HttpOnly,
SameSite=Strict) and drops the token from the URL. Comparison is constant-time.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "atlas_token"
LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Atlas: sign in</title>
</head><body style="font-family:sans-serif;max-width:30em;margin:4em auto">
<h1>Atlas</h1><p>This dashboard needs its access token (the file named by the bundle's
<code>secret_ref</code>, or the URL printed by <code>metalab tunnel</code>).</p>
<form method="get"><input name="token" type="password" autofocus size="40" aria-label="token">
<button type="submit">Sign in</button></form></body></html>"""


class TokenGuard:
    """Pure ASGI middleware guarding every HTTP request."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    def _valid(self, supplied: str) -> bool:
        return hmac.compare_digest(supplied.encode(), self.expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        bearer = headers.get("authorization", "")
        if bearer.startswith("Bearer ") and self._valid(bearer.removeprefix("Bearer ")):
            await self.app(scope, receive, send)
            return
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except ValueError:
            cookie = SimpleCookie()
        if COOKIE in cookie and self._valid(cookie[COOKIE].value):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        supplied = [v for k, v in query if k == "token"]
        if supplied and self._valid(supplied[-1]):
            await self._login(scope, query, supplied[-1])(scope, receive, send)
            return
        await self._refuse(headers)(scope, receive, send)

    def _login(self, scope: Scope, query: list[tuple[str, str]], token: str) -> Response:
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        path = "/" + str(scope.get("path", "/")).lstrip("/")  # never "//host": no open redirect
        target = path + (f"?{rest}" if rest else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
        return response

    def _refuse(self, headers: Headers) -> Response:
        if "text/html" in headers.get("accept", ""):
            return HTMLResponse(LOGIN_PAGE, status_code=401)
        return JSONResponse({"error": "token required"}, status_code=401)
