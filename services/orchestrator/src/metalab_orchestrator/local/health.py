"""Health of a local bundle's services: the process is the recorded one, and it answers.

Blocking and cheap to import (no asyncio): the backend runs `check_bundle` in a thread, and the
CLI's warm `services up` / `services status` call it directly — the same checks either way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from metalab_orchestrator.backends.base import Bundle, Probe
from metalab_orchestrator.local.process import ProcessRecord, is_alive
from metalab_orchestrator.probes import check_http, check_postgres


def record_of(handle: dict[str, Any]) -> ProcessRecord:
    """The process a bundle entry records (pid, kernel start time, process group)."""
    pid = int(handle.get("pid", 0))
    return ProcessRecord(pid, int(handle.get("start_time", 0)), int(handle.get("pgid", 0) or pid))


def check_bundle(bundle: Bundle) -> list[Probe]:
    """Real checks of every service a local bundle records, in the bundle's order.

    The checks run side by side (one thread each but the first): they wait on the network.
    """
    services: dict[str, dict[str, Any]] = bundle.get("services", {})
    names = list(services)
    results: dict[str, Probe | BaseException] = {}

    def check(name: str) -> None:
        try:
            results[name] = check_service(name, services[name])
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


def check_service(name: str, handle: dict[str, Any]) -> Probe:
    host, port = str(handle.get("host", "")), int(handle.get("port", 0))
    url = str(handle.get("url", ""))
    if not is_alive(record_of(handle)):
        return Probe(name, host, port, False, "unreachable", "process is gone", url)
    if name == "postgres":
        ok, detail = check_postgres(
            host,
            port,
            str(handle.get("user")),
            str(handle.get("database")),
            str(handle.get("passfile")),
        )
    else:
        ok, detail = check_http(host, port, token=atlas_token(handle))
    return Probe(name, host, port, ok, "running" if ok else "unreachable", detail, url)


def atlas_token(handle: dict[str, Any]) -> str | None:
    """The token of an Atlas started beyond loopback (its 0600 ``secret_ref`` file)."""
    ref = handle.get("secret_ref")
    if not ref:
        return None
    from metalab_orchestrator.local.secret_files import read_secret

    return (read_secret(Path(ref)) or "").strip() or None
