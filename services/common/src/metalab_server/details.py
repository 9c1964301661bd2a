"""gRPC error details that fit: a status message travels in an HTTP/2 header, and one over the
peer's header limit (8-16 KiB) turns the whole status into "Stream removed"."""

from __future__ import annotations

MAX_DETAIL = 4096  # characters; a UTF-8 header of at most 16 KiB
HEAD = 1024


def summarize(message: str, limit: int = MAX_DETAIL) -> str:
    """``message`` when short; else its first line(s) and its end — where a traceback or a
    tool's output states the root cause (``No space left on device``) — with what was left out
    counted in between."""
    if len(message) <= limit:
        return message
    tail = limit - HEAD - 64
    omitted = len(message) - HEAD - tail
    return f"{message[:HEAD]} … [{omitted:,} characters omitted] … {message[-tail:]}"
