"""Redaction of secrets in store locators (URLs) for display and logs."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_PARAMS = frozenset({"password", "token", "secret"})
REDACTED = "***"


def redact_locator(locator: str) -> str:
    """Replace the password of ``scheme://user:password@host`` and secret query values."""
    parts = urlsplit(locator)
    if not parts.scheme or not parts.netloc:
        return locator
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{hostport}" if sep else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k in SECRET_PARAMS for k, _ in pairs):
            query = urlencode([(k, REDACTED if k in SECRET_PARAMS else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
