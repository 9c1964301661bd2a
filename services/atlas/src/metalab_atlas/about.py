"""What the page header shows: the project, environment and store kind, and the store's
locator with every secret and credential path masked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from metalab.core.redact import redact_locator


def shown_locator(store: str) -> str:
    """``store`` for display: passwords and secret values masked, and the paths of credential
    files (``passfile``, TLS keys) too (`redact_locator`)."""
    return redact_locator(store, files=True)


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
