"""Human and JSON renderings of bundles and status (secrets never printed)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metalab._config.resolve import Project, Selection
    from metalab.core.bundle.discover import Discovered

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
    """``url`` plus ``/?token=…`` when this Atlas has a token file this account may read.

    For a person's terminal and ``status --json`` (as ``jupyter server list --json``): the URL
    is the owner's own capability, read from a file only the owner can read; Atlas swaps it for
    a cookie and drops it from the address bar. Never logged.
    """
    ref = handle.get("secret_ref")
    token = _read_private_line(Path(str(ref))) if ref else None
    if not token:
        return url
    from urllib.parse import quote

    return f"{url.rstrip('/')}/?token={quote(token, safe='')}"


def _read_private_line(path: Path) -> str | None:
    """One line from a regular 0600 file of this account (any owner for root), never through
    a symlink; None otherwise (a bundle names the file, so it is not trusted)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        mine = info.st_uid == os.geteuid() or os.geteuid() == 0
        if not stat.S_ISREG(info.st_mode) or not mine or info.st_mode & 0o077:
            return None
        data = os.read(fd, 4097)
    finally:
        os.close(fd)
    text = data.decode("utf-8", "replace").strip()
    if not text or len(data) > 4096 or any(c in text for c in "\r\n\0"):
        return None
    return text


def bundle_json(bundle: dict[str, Any], reused: bool, show_secrets: bool) -> dict[str, Any]:
    from metalab.core.redact import redact_locator

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


def up_lines(
    bundle: dict[str, Any], reused: bool, env_name: str, as_json: bool, show_secrets: bool
) -> list[str]:
    """What `services up` prints once it has a bundle."""
    import json

    if as_json:
        return [json.dumps(bundle_json(bundle, reused, show_secrets))]
    verb = "reused" if reused else "started"
    return [f"Services {verb} ({env_name}):", *service_lines(bundle)]


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
    if response.index_pending:
        lines.append(f"  index: {response.index_pending} write(s) pending catch-up")
    return lines


def is_healthy(response: Any) -> bool:
    """Found, ready (not ``provisioning``) and every service answering its probe."""
    return bool(
        response.found
        and response.bundle.state in ("", "ready")
        and response.services
        and all(s.healthy for s in response.services)
    )


def tunnel_lines(tunnels: list[dict[str, Any]]) -> list[str]:
    """`services status` lines for detached tunnels."""
    return [
        f"  ↔ tunnel {t['id']} ({t['state']}): "
        + ", ".join(f"{f['service']} → 127.0.0.1:{f['local_port']}" for f in t["forwards"])
        for t in tunnels
    ]


def status_output(
    response: Any, tunnels: list[dict[str, Any]], project: str, env_name: str, as_json: bool
) -> list[str]:
    """What `services status` prints for ``response`` (a StatusResponse or a `StatusView`)."""
    import json

    if as_json:
        return [json.dumps({**status_json(response), "tunnels": tunnels})]
    if not response.found:
        lines = [f"No services running for {project} ({env_name})."]
        if response.index_pending:
            lines.append(f"  index: {response.index_pending} write(s) pending catch-up")
        return lines
    return [*status_lines(response), *tunnel_lines(tunnels)]


def status_json(response: Any) -> dict[str, Any]:
    """The status for scripts; Atlas's ``url`` carries its login token (see `atlas_login_url`)."""
    handles = response.bundle.services
    return {
        "found": response.found,
        "healthy": is_healthy(response),
        "job_state": response.job_state or None,
        "index_pending": response.index_pending,
        "services": [
            {
                "name": s.name,
                "host": s.host,
                "port": s.port,
                "healthy": s.healthy,
                "state": s.state,
                "detail": s.detail,
                "url": _status_url(s, handles),
            }
            for s in response.services
        ],
    }


def _status_url(service: Any, handles: Any) -> str:
    url = str(service.url)
    if service.name != "atlas" or not url or service.name not in handles:
        return url
    return atlas_login_url(url, {"secret_ref": handles[service.name].secret_ref})


def env_list_lines(project: Project, selection: Selection, as_json: bool) -> list[str]:
    """What `env list` prints: one row per profile, `*` marking the default."""
    import json

    from metalab._config.resolve import IMPLICIT_ENV

    names = project.environments
    rows = (
        [(name, str(doc.get("type", "?"))) for name, doc in names.items()]
        if names
        else [(IMPLICIT_ENV, "local")]
    )
    if as_json:
        data = [{"name": n, "type": t, "default": n == selection.name} for n, t in rows]
        return [json.dumps({"environments": data, "default_source": selection.source})]
    lines = [
        f"  {name:<20} {env_type}{' *' if name == selection.name else ''}"
        for name, env_type in rows
    ]
    return [*lines, "", f"  * = default ({_default_note(selection.source)})"]


def _default_note(source: str) -> str:
    return {
        "default_env": "set via [project] default_env",
        "METALAB_ENV": "set via METALAB_ENV",
        "implicit": "no default_env set: the implicit local environment",
    }.get(source, source)


def discover_lines(found: Discovered, as_json: bool, show_secrets: bool) -> list[str]:
    """What `discover` prints: the store locator (redacted unless asked), or JSON."""
    import json

    from metalab.core.redact import redact_locator

    locator = found.store_locator if show_secrets else redact_locator(found.store_locator)
    if not as_json:
        return [locator]
    payload = {
        "store_locator": locator,
        "bundle_path": str(found.path),
        "project": found.bundle.get("project"),
        "environment": found.bundle.get("environment"),
    }
    return [json.dumps(payload)]
