"""Human and JSON renderings of bundles and status (secrets never printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from metalab._locator import redact_locator

SERVICE_ORDER = ("postgres", "atlas")


def _ordered(services: dict[str, Any]) -> list[tuple[str, Any]]:
    return sorted(services.items(), key=lambda item: _rank(item[0]))


def service_lines(bundle: dict[str, Any]) -> list[str]:
    """Human lines: one per service; Atlas's URL carries its login token when it has one."""
    lines = []
    for name, handle in _ordered(bundle.get("services", {})):
        where = handle.get("url") or f"{handle.get('host')}:{handle.get('port')}"
        if name == "atlas" and handle.get("url"):
            where = atlas_login_url(where, handle)
        lines.append(f"  {name}: {where}")
    return lines


def atlas_login_url(url: str, handle: dict[str, Any]) -> str:
    """``url`` plus ``/?token=…`` when this Atlas requires a token and its file is readable.

    Only for a person's terminal (Atlas swaps it for a cookie and drops it from the address
    bar); never used for ``--json`` output or logs.
    """
    ref = handle.get("secret_ref")
    if not ref:
        return url
    try:
        token = Path(str(ref)).read_text().strip()
    except OSError:
        return url
    return f"{url.rstrip('/')}/?token={quote(token, safe='')}" if token else url


def bundle_json(bundle: dict[str, Any], reused: bool, show_secrets: bool) -> dict[str, Any]:
    locator = bundle.get("store_locator", "")
    return {
        "reused": reused,
        "environment": bundle.get("environment"),
        "project": bundle.get("project"),
        "store_locator": locator if show_secrets else redact_locator(locator),
        "services": {
            name: {k: v for k, v in handle.items() if k != "secret_ref"}
            for name, handle in bundle.get("services", {}).items()
        },
        "expires_at": bundle.get("expires_at") or None,
        "job_id": bundle.get("job_id") or None,
    }


def _rank(name: str) -> tuple[int, str]:
    return (SERVICE_ORDER.index(name) if name in SERVICE_ORDER else 99, name)


def status_lines(response: Any) -> list[str]:
    lines = []
    for service in sorted(response.services, key=lambda s: _rank(s.name)):
        mark = "✓" if service.healthy else "✗"
        state = service.state or ("running" if service.healthy else "unreachable")
        detail = f" — {service.detail}" if service.detail and not service.healthy else ""
        lines.append(f"  {mark} {service.name}: {service.host}:{service.port} ({state}){detail}")
    if response.job_state:
        lines.append(f"  job {response.bundle.job_id}: {response.job_state}")
    return lines


def is_healthy(response: Any) -> bool:
    """Found, ready (not ``provisioning``) and every service answering its probe."""
    return bool(
        response.found
        and response.bundle.state in ("", "ready")
        and response.services
        and all(s.healthy for s in response.services)
    )


def status_json(response: Any) -> dict[str, Any]:
    return {
        "found": response.found,
        "healthy": is_healthy(response),
        "job_state": response.job_state or None,
        "services": [
            {
                "name": s.name,
                "host": s.host,
                "port": s.port,
                "healthy": s.healthy,
                "state": s.state,
                "detail": s.detail,
                "url": s.url,
            }
            for s in response.services
        ],
    }
