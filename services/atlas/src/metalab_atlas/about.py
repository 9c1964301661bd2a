"""What the page header shows: the project, environment and store kind, and the store's
locator with every secret and credential path masked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from metalab.core.redact import REDACTED, redact_locator

HIDDEN_PARAMS = ("passfile", "sslkey", "sslpassword", "sslcert", "sslrootcert")


def shown_locator(store: str) -> str:
    """``store`` for display: passwords and secret values masked (`redact_locator`), and the
    paths of credential files (``passfile``, TLS keys) too."""
    locator = redact_locator(store)
    parts = urlsplit(locator)
    if not parts.scheme or not parts.query:
        return locator
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k in HIDDEN_PARAMS for k, _ in pairs):
        return locator
    query = urlencode([(k, REDACTED if k in HIDDEN_PARAMS else v) for k, v in pairs], safe="*/")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def about(store: str, kind: str, bundle: Path | None) -> dict[str, Any]:
    """``{project, environment, store_kind, store}``; project and environment come from the
    service bundle (None without one)."""
    project = environment = None
    if bundle is not None:
        try:
            data = json.loads(bundle.read_bytes())
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict):
            project = _text(data.get("project"))
            environment = _text(data.get("environment"))
    return {
        "project": project,
        "environment": environment,
        "store_kind": kind,
        "store": shown_locator(store),
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
