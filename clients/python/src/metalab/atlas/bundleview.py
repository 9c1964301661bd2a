"""The Services page: the bundle Atlas was started from, with secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from metalab._locator import REDACTED, redact_locator

SECRET_WORDS = ("password", "token", "secret", "passfile")


def redact(value: Any) -> Any:
    """A copy of ``value`` without secrets: secret-looking keys masked, URLs' passwords too."""
    if isinstance(value, dict):
        return {
            k: REDACTED if any(w in k.lower() for w in SECRET_WORDS) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and "://" in value:
        return redact_locator(value)
    return value


def bundle_view(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {"found": False, "detail": "Atlas was started without a bundle"}
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {"found": False, "detail": "no bundle (services are down)"}
    except (OSError, ValueError) as exc:
        return {"found": False, "detail": f"unreadable bundle: {type(exc).__name__}"}
    if not isinstance(data, dict):
        return {"found": False, "detail": "unreadable bundle"}
    return {"found": True, "bundle": redact(data)}
