"""Embedded mode: the one client module that runs server code in this process.

The service packages (``metalab_server``, ``metalab_orchestrator``, ``metalab_registry``,
``metalab_tunnel``) come with the ``metalab[server]`` extra and are imported lazily, inside
these functions, so the plain wheel imports and works against a remote ``metalab server``.
The import-linter contracts in ``.importlinter`` allow no other client module to import them.
"""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metalab.core.errors import ConfigError

if TYPE_CHECKING:
    from metalab._config.resolve import Environment
    from metalab_orchestrator.backends.base import Probe as Probe

SERVER_PACKAGES = ("metalab_server", "metalab_orchestrator", "metalab_registry", "metalab_tunnel")


def available() -> bool:
    """Whether the ``metalab[server]`` packages are installed here."""
    return all(importlib.util.find_spec(name) is not None for name in SERVER_PACKAGES)


def require() -> None:
    """Raise one clear line when embedded mode is asked for without its packages."""
    if not available():
        raise ConfigError(
            "no metalab server is configured and the server packages are not installed: "
            "set METALAB_SERVER (or server: in the settings file), or pip install "
            "'metalab[server]' (from a checkout: scripts/bootstrap.sh)"
        )


@asynccontextmanager
async def embedded_server(
    address: str, services: tuple[str, ...] | None = None
) -> AsyncIterator[str]:
    """``services`` (default all) hosted in this process on ``address``; yields the bound
    address."""
    require()
    from metalab_server.server import ALL_SERVICES, start_server

    running = await start_server(ALL_SERVICES if services is None else services, address)
    try:
        yield running.address
    finally:
        await running.stop(grace=0.5)


async def serve(
    names: list[str],
    listen: str,
    shared: str | None,
    token: str | None,
    on_ready: Callable[[str], None],
) -> None:
    """`metalab server`: host ``names`` on ``listen`` (and the relayed ``shared`` socket for
    other accounts) until SIGTERM/SIGINT."""
    require()
    from metalab._client.owner_socket import remove_locators, write_locators
    from metalab._client.token_file import remove_token, runtime_dir, write_token
    from metalab.errors import UsageError
    from metalab_server.address import check_listen
    from metalab_server.memory import map_large_buffers
    from metalab_server.server import serve_until_signalled, start_owner_server, start_server

    map_large_buffers()  # messages of any caller, refused or not, leave no lasting growth

    tcp = not listen.startswith("unix:")
    if shared is not None and (tcp or not shared.startswith("unix:")):
        raise UsageError("--shared-socket needs unix:PATH and a unix: --listen")
    generate = tcp and not token
    if generate:
        check_listen(listen, token)  # beyond loopback the token must be configured
        runtime_dir(create=True)  # refused before binding when it is not private
        token = secrets.token_urlsafe(32)
    if tcp:
        running = await start_server(names, listen, token)
        auth = "token required"
    else:
        running = await start_owner_server(names, listen, shared, token)
        auth = "this account only"
        if shared is not None:
            who = "other accounts with the token" if token else "other accounts: no token set"
            auth += f"; {who} on {shared}"
    token_file: Path | None = None
    locators: list[Path] = []
    try:
        if generate and token:
            token_file = write_token(running.address, token)
            auth = f"token required, in {token_file}"
        if not tcp:
            locators = write_locators(running.address, shared)
    except BaseException:
        await running.stop(grace=0)
        raise
    banner = f"metalab server: {', '.join(names)} on {running.address} ({auth})"
    try:
        await serve_until_signalled(running, on_ready=lambda: on_ready(banner))
    finally:
        if locators:
            remove_locators(locators, running.address)
        if token_file is not None and token:
            remove_token(token_file, token)


def index_pending(file_root: str) -> int:
    """Index writes waiting under ``file_root`` for PostgreSQL (the orchestrator's catch-up)."""
    from metalab_orchestrator.index_catch_up import pending_writes

    return pending_writes(file_root)


def healthy_probes(runtime: str, bundle: dict[str, Any], services_dir: Path) -> list[Probe] | None:
    """The local backend's probes of ``bundle`` when every service answers on ``runtime``;
    None otherwise (a bundle of another runtime is not healthy: the orchestrator replaces it)."""
    from metalab_orchestrator.runtime.health import check_bundle, runtime_switch

    if runtime_switch(runtime, bundle):
        return None
    probes = check_bundle(bundle, services_dir)
    return probes if probes and all(p.healthy for p in probes) else None


def runtime_choice(runtime: str) -> tuple[str, str]:
    """The runtime local services would run on here and why ("unavailable" and the one-line
    error when none would)."""
    from metalab.core.errors import ProvisioningFailed
    from metalab_orchestrator.runtime.runtime_choice import choose_runtime

    try:
        choice = choose_runtime(runtime)
    except ProvisioningFailed as exc:
        return "unavailable", str(exc)
    return choice.runtime, choice.reason


def native_refusal(name: str, handle: dict[str, Any], services_dir: Path) -> bool:
    """Whether the process recorded for service ``name`` is one this account must not signal."""
    from metalab_orchestrator.runtime.process import refusal
    from metalab_orchestrator.runtime.teardown import native_target

    return bool(refusal(*native_target(name, handle, services_dir)))


def stop_native(name: str, handle: dict[str, Any], services_dir: Path) -> str | None:
    """Stop the native process of service ``name``; the reason when it is not ours to signal."""
    from metalab_orchestrator.runtime import teardown
    from metalab_orchestrator.runtime.process import NotOurProcess

    try:
        teardown.stop_native(name, handle, services_dir)
    except NotOurProcess as exc:
        return str(exc)
    return None


def stop_rest(
    environment: Environment,
    bundle: dict[str, Any],
    services_dir: Path,
    report: Callable[[str], None],
    check: Callable[[], None],
) -> None:
    """After the recorded services: stop an Atlas and a PostgreSQL server left without a bundle
    entry and leftover containers, probe every service gone and delete the bundle
    (`LocalBackend.recover` and `Lifecycle._stop_and_forget`); ``check`` raises on Ctrl+C."""
    from metalab.core.errors import ProvisioningFailed
    from metalab_orchestrator.runtime import teardown
    from metalab_orchestrator.runtime.health import check_bundle
    from metalab_orchestrator.runtime.paths import data_dir_of
    from metalab_registry.store import BundleKey, BundleStore

    check()
    if teardown.stop_unrecorded_atlas(services_dir):
        report("stopped atlas: stopped (recorded in its pid file)")
    if teardown.stop_unrecorded_server(data_dir_of(services_dir)):
        report("stopped postgres: stopped (recorded in postmaster.pid)")
    runtime = str(environment.settings.get("runtime", "auto"))
    teardown.remove_unrecorded_containers(
        runtime, environment.project, environment.name, services_dir
    )
    still = [p.name for p in check_bundle(bundle, services_dir) if p.state == "running"]
    key = BundleKey(environment.project, environment.name, environment.file_root or "")
    if still:
        raise ProvisioningFailed(
            f"could not stop {', '.join(still)}; the bundle is kept at {key.path}"
        )
    BundleStore().delete(key)
