"""The Services page: the bundle Atlas was started from, with secrets redacted."""

from __future__ import annotations

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
    """The bundle at ``path``, read with the same checks as every bundle reader (no symlink,
    the caller's own 0600 file, a valid shape), secrets redacted."""
    from metalab._bundle.files import read_bundle
    from metalab.errors import BundleError, BundleRefused

    if path is None:
        return {"found": False, "detail": "Atlas was started without a bundle"}
    try:
        data = read_bundle(path)
    except BundleRefused:
        return {"found": False, "detail": "bundle refused (not a private file of this account)"}
    except BundleError:
        return {"found": False, "detail": "unreadable bundle"}
    if data is None:
        return {"found": False, "detail": "no bundle (services are down)"}
    return {"found": True, "bundle": redact(data)}
