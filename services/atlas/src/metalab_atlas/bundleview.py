"""The Services page: the bundle Atlas was started from, with secrets redacted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metalab.core.redact import redact


def bundle_view(path: Path | None) -> dict[str, Any]:
    """The bundle at ``path``, read with the same checks as every bundle reader (no symlink,
    the caller's own 0600 file, a valid shape), secrets redacted."""
    from metalab.core.bundle.files import read_bundle
    from metalab.core.errors import BundleError, BundleRefused

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
    return {"found": True, "bundle": redact(data, files=True)}
