"""The one redaction module: which names are secret, and how values are masked for display.

Every place that shows configuration, bundles, store locators or environment variables masks
with these functions, so one list decides what counts as a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "***"
# A key, query parameter or environment variable whose name contains one of these (in any
# case) holds a secret: ``password``, ``sslpassword``, ``PGPASSWORD``, ``METALAB_TOKEN``,
# ``AWS_SECRET_ACCESS_KEY``, ``API_KEY``, ``ssh_key``...
SECRET_WORDS = ("password", "passwd", "token", "secret", "credential", "key")
# These name the path of a file that holds a credential (libpq's ``passfile``, TLS keys and
# certificates). The path is what a client needs to connect, so `discover`, `status` and
# `env show` print it; displays for other readers (Atlas's header and Services page) mask it.
CREDENTIAL_FILE_WORDS = ("passfile", "sslkey", "sslcert", "sslrootcert")


def is_secret(name: str, files: bool = False) -> bool:
    """Whether a value named ``name`` is masked (``files``: credential file paths too)."""
    lowered = name.lower()
    words = SECRET_WORDS + CREDENTIAL_FILE_WORDS if files else SECRET_WORDS
    return any(word in lowered for word in words)


def redact(value: Any, show_secrets: bool = False, files: bool = False) -> Any:
    """A copy of ``value`` with the values of secret keys masked and URLs' passwords too
    (``files``: credential file paths too)."""
    if show_secrets:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if is_secret(str(k), files) else redact(v, files=files)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v, files=files) for v in value]
    if isinstance(value, str) and "://" in value:
        return redact_locator(value, files)
    return value


def redact_locator(locator: str, files: bool = False) -> str:
    """``locator`` with the password of ``scheme://user:password@host`` and the values of
    secret query parameters masked (``files``: credential file paths too); a plain path or
    ``file:`` URL comes back unchanged."""
    try:
        parts = urlsplit(locator)
    except ValueError:
        return "<unparseable locator>"
    if not parts.scheme or parts.scheme == "file":
        return locator
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:{REDACTED}@{hostport}" if sep else netloc
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(is_secret(k, files) for k, _ in pairs):
        query = urlencode(
            [(k, REDACTED if is_secret(k, files) else v) for k, v in pairs], safe="/*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_env(env: Mapping[str, str]) -> str:
    """``NAME=value`` pairs for a log line; values of secret names are masked."""
    if not env:
        return "(none)"
    return " ".join(
        f"{name}={REDACTED if is_secret(name) else value}" for name, value in env.items()
    )
