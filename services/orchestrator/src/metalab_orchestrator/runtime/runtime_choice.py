"""Which runtime runs a local environment's services: native binaries or a container engine.

``runtime = "auto"`` (the default) takes native PostgreSQL binaries when this machine has them,
else the first container engine that answers (Docker, then Podman); a ``METALAB_PG_BIN`` that
names no binaries is an error, not a reason to fall back. An explicit runtime that is
unavailable is a one-line error; it never falls back silently.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from metalab.core.errors import ProvisioningFailed

RUNTIMES = ("auto", "native", "docker", "podman")
ENGINES = ("docker", "podman")


@dataclass(frozen=True)
class RuntimeChoice:
    """The runtime that runs the services (``native``, ``docker`` or ``podman``) and why."""

    runtime: str
    reason: str
    engine_url: str = ""  # the engine's API address for a container runtime

    @property
    def in_containers(self) -> bool:
        return self.runtime in ENGINES


def _native(environ: Mapping[str, str]) -> tuple[str | None, str]:
    """(bindir, "") when native binaries exist, else (None, why not)."""
    from metalab_orchestrator.runtime.pg_binaries import find_pg_binaries

    try:
        return str(find_pg_binaries(environ).bindir), ""
    except ProvisioningFailed as exc:
        return None, str(exc)


def _start_hint(engine: str) -> str:
    """How to start Podman's API service (it is socket-activated, not a daemon)."""
    if engine != "podman":
        return ""
    user = " --user" if os.geteuid() != 0 else ""
    return (
        f"; start its API: systemctl{user} enable --now podman.socket, or "
        "podman system service --time=0 &"
    )


def choose_runtime(requested: str, environ: Mapping[str, str] | None = None) -> RuntimeChoice:
    """Resolve ``requested`` (one of `RUNTIMES`) on this machine, or raise `ProvisioningFailed`."""
    from metalab_orchestrator.runtime.engines import engine_url, probe_engine

    env = os.environ if environ is None else environ
    if requested not in RUNTIMES:
        raise ProvisioningFailed(f"unknown runtime {requested!r}: use one of {', '.join(RUNTIMES)}")
    if requested == "native":
        bindir, why = _native(env)
        if bindir is None:
            raise ProvisioningFailed(f'runtime = "native" is unavailable: {why}')
        return RuntimeChoice("native", f"configured; PostgreSQL binaries in {bindir}")
    if requested in ENGINES:
        url = engine_url(requested, env)
        problem = probe_engine(url)
        if problem:
            raise ProvisioningFailed(
                f'runtime = "{requested}" is unavailable: no {requested} engine answers at '
                f"{url} ({problem}){_start_hint(requested)}"
            )
        return RuntimeChoice(requested, f"configured; {requested} engine at {url}", url)
    bindir, why = _native(env)
    if bindir is not None:
        return RuntimeChoice("native", f"auto: PostgreSQL binaries in {bindir}")
    if env.get("METALAB_PG_BIN"):  # native binaries were asked for by name: no fallback
        raise ProvisioningFailed(why)
    tried = []
    for name in ENGINES:
        url = engine_url(name, env)
        problem = probe_engine(url)
        if not problem:
            return RuntimeChoice(
                name, f"auto: no PostgreSQL binaries; {name} engine at {url} answers", url
            )
        tried.append(f"{name} at {url}: {problem}")
    raise ProvisioningFailed(
        "no runtime for local services: no PostgreSQL binaries (install PostgreSQL or set "
        f"METALAB_PG_BIN) and no container engine answers ({'; '.join(tried)})"
    )
