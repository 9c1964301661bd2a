"""Bounds on request headers, Atlas's own and uvicorn's.

`HeaderCap` answers 431 Request Header Fields Too Large, with the reason, to a request with
more than `MAX_HEADERS` header fields or more than `MAX_HEADER_BYTES` of header lines (each
counted as on the wire, ``name: value`` and CRLF), before any other work. uvicorn buffers a
request head before Atlas sees it; `UVICORN_SETTINGS` pins its parser (h11) and bounds that
buffer (request line and headers) at `MAX_HEAD_BYTES`, above which uvicorn itself answers 400
and closes the connection.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_HEADERS = 100  # Apache's LimitRequestFields
MAX_HEADER_BYTES = 16 * 1024  # Node's --max-http-header-size
# A request line with the largest query string Atlas reads (16 KiB, else 414) plus the
# largest headers it accepts, with room to answer 431 rather than uvicorn's bare 400.
MAX_HEAD_BYTES = 64 * 1024
UVICORN_SETTINGS: dict[str, Any] = {
    "http": "h11",  # uvicorn sets httptools (picked when installed) no header bound
    "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
}


def header_problem(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why these headers are refused, or None."""
    if len(headers) > MAX_HEADERS:
        return f"{len(headers)} request header fields; at most {MAX_HEADERS}"
    size = sum(len(name) + len(value) + 4 for name, value in headers)
    if size > MAX_HEADER_BYTES:
        return f"request headers of {size} bytes; at most {MAX_HEADER_BYTES}"
    return None


class HeaderCap:
    """ASGI middleware: 431 for too many or too large request headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = header_problem(scope.get("headers", []))
            if problem is not None:
                response = JSONResponse({"error": problem}, status_code=431)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
