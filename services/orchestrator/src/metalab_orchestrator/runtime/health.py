"""Health of a local bundle's services: the process or container is provably this
environment's own, and it answers.

Blocking and cheap to import (no asyncio; the Docker SDK only for a container bundle): the
backend runs `check_bundle` in a thread, and the CLI's warm `services up` / `services status`
call it directly — the same checks either way. Only the bundle's processes, containers, hosts
and ports are used; files (passfile, token) come from ``services_dir``. Each service's probe is
its plugin's (`plugins.postgres.check_postgres`, `plugins.atlas.check_http`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from metalab.core.bundle import Bundle
from metalab_orchestrator.backends.base import Probe
from metalab_orchestrator.plugins.atlas import check_http, token_of
from metalab_orchestrator.plugins.postgres import check_postgres
from metalab_orchestrator.runtime.paths import atlas_dir, run_dir_of, service_owner
from metalab_orchestrator.runtime.process import ProcessRecord, is_ours


def record_of(handle: dict[str, Any]) -> ProcessRecord:
    """The process a bundle's service entry records, typed by `ServiceRecord`."""
    from metalab.core.bundle.model import ServiceRecord

    entry = ServiceRecord.from_dict(handle)
    return ProcessRecord(entry.pid, entry.start_time, entry.pgid or entry.pid)


def runtime_switch(configured: str, bundle: Bundle) -> str:
    """Why a bundle must not be reused: it runs under another runtime than the one configured
    ("" when it may; ``auto`` keeps whatever runs)."""
    recorded = str(bundle.get("runtime", "native"))
    if configured in ("auto", recorded):
        return ""
    return f"runs on runtime {recorded}, but runtime = {configured!r} is configured"


def engine_of(bundle: Bundle) -> str:
    """The engine a container bundle's runtime means on this machine ("" for native). The
    address recorded in the bundle is never used to connect: a bundle is a file, not a proof."""
    runtime = str(bundle.get("runtime", ""))
    if runtime not in ("docker", "podman"):
        return ""
    from metalab_orchestrator.runtime.engines import engine_url

    return engine_url(runtime)


def check_bundle(bundle: Bundle, services_dir: Path) -> list[Probe]:
    """Real checks of every service a local bundle records, in the bundle's order.

    The checks run side by side (one thread each but the first): they wait on the network.
    """
    services: dict[str, dict[str, Any]] = bundle.get("services", {})
    names = list(services)
    results: dict[str, Probe | BaseException] = {}

    def check(name: str) -> None:
        try:
            results[name] = check_service(bundle, name, services_dir)
        except BaseException as exc:  # noqa: BLE001 (re-raised below, in the caller's thread)
            results[name] = exc

    threads = [threading.Thread(target=check, args=(name,)) for name in names[1:]]
    for thread in threads:
        thread.start()
    for name in names[:1]:
        check(name)
    for thread in threads:
        thread.join()
    probes = []
    for name in names:
        result = results[name]
        if isinstance(result, BaseException):
            raise result
        probes.append(result)
    return probes


def is_running(bundle: Bundle, name: str, services_dir: Path) -> bool:
    """The recorded process (or container) runs and is provably this environment's own."""
    handle = bundle["services"][name]
    if handle.get("runtime") != "container":
        return name in ("postgres", "atlas") and is_ours(
            record_of(handle), service_owner(name, services_dir)
        )
    from metalab_orchestrator.runtime.containers import Owner, running

    url = engine_of(bundle)
    if not url or handle.get("engine") != url:
        return False  # recorded on an engine this machine does not address for that runtime
    owner = Owner(
        str(bundle.get("project", "")), str(bundle.get("environment", "")), services_dir.resolve()
    )
    return running(url, handle, owner, name)


def check_service(bundle: Bundle, name: str, services_dir: Path) -> Probe:
    """The probe of one service of ``bundle``."""
    handle: dict[str, Any] = bundle["services"][name]
    host, port = str(handle.get("host", "")), int(handle.get("port", 0))
    url = str(handle.get("url", ""))
    if not is_running(bundle, name, services_dir):
        gone = "container is gone" if handle.get("runtime") == "container" else "process is gone"
        return Probe(name, host, port, False, "unreachable", gone, url)
    if name == "postgres":
        from metalab_orchestrator.runtime.pg_layout import PASSFILE_NAME

        ok, detail = check_postgres(
            host,
            port,
            str(handle.get("user")),
            str(handle.get("database")),
            str(run_dir_of(services_dir) / PASSFILE_NAME),
        )
    else:
        ok, detail = check_http(host, port, token=atlas_token(handle, services_dir))
    return Probe(name, host, port, ok, "running" if ok else "unreachable", detail, url)


def atlas_token(handle: dict[str, Any], services_dir: Path) -> str | None:
    """The token of this environment's Atlas (`plugins.atlas.token_of` its directory)."""
    return token_of(handle, atlas_dir(services_dir))
