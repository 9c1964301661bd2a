"""The local backend: services as detached process groups on this machine, or as containers.

The environment's ``runtime`` (`runtime.runtime_choice`) says which: native binaries, or a
Docker-compatible engine (`runtime.container_services`). Either way Postgres starts first (the
store), then Atlas reading it; teardown is the reverse. Each process or container is recorded in
the bundle as soon as it exists, so a crash anywhere leaves a record the next call uses to stop
it (containers are also found by their labels, checked against this environment).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metalab.core.bundle import Bundle
from metalab_orchestrator.backends.base import Emit, Probe, SaveBundle
from metalab_orchestrator.plugins import atlas as atlas_plugin
from metalab_orchestrator.plugins import postgres as pg_plugin
from metalab_orchestrator.plugins import tunnel_targets
from metalab_orchestrator.plugins.atlas import launch as atlas_launch
from metalab_orchestrator.plugins.postgres import launch as pg_launch
from metalab_orchestrator.runtime import teardown
from metalab_orchestrator.runtime.health import check_bundle, engine_of, runtime_switch
from metalab_orchestrator.runtime.network import LocalNetwork, local_network
from metalab_orchestrator.runtime.paths import (
    atlas_dir,
    data_dir_of,
    log_paths_of,
)
from metalab_orchestrator.runtime.ports import ensure_port_free
from metalab_orchestrator.runtime.process import NotOurProcess, is_alive
from metalab_orchestrator.runtime.readiness import NATIVE_POLL
from metalab_orchestrator.runtime.teardown import (
    STOP_GRACE,
    atlas_pid_file,
    stop_unrecorded_atlas,
    stop_unrecorded_server,
)

if TYPE_CHECKING:
    from metalab.core.schema import AtlasService, PostgresService
    from metalab_orchestrator.runtime.containers import Owner
    from metalab_orchestrator.runtime.pg_handle import PostgresHandle
    from metalab_orchestrator.runtime.runtime_choice import RuntimeChoice
    from metalab_orchestrator.spec import Spec

LOOPBACK = "127.0.0.1"


class LocalBackend:
    """Processes on this machine, in their own sessions so they outlive the caller, or
    containers of a local engine."""

    def __init__(self) -> None:
        self._choice: RuntimeChoice | None = None

    async def preflight(self, spec: Spec) -> None:
        """Choose the runtime before the lifecycle stops anything: an unavailable one fails
        ``up`` while a running bundle of another runtime is still up."""
        self._choice = await asyncio.to_thread(_choose, spec)

    async def start(self, spec: Spec, bundle: Bundle, emit: Emit, save: SaveBundle) -> Bundle:
        """Start the services; on Podman, warn (once) when its storage driver is ``vfs``."""
        choice = self._choice
        if choice is None:
            choice = await asyncio.to_thread(_choose, spec)
        if choice.runtime != "podman":
            return await self._start(spec, bundle, emit, save, choice)
        from metalab_orchestrator.runtime.engines import storage_warning

        warning = asyncio.create_task(asyncio.to_thread(storage_warning, choice.engine_url))
        try:
            return await self._start(spec, bundle, emit, save, choice)
        finally:
            if not warning.done():
                await asyncio.wait([warning])
            if not warning.cancelled() and warning.exception() is None and warning.result():
                await emit("INFO", message=warning.result())

    async def _start(
        self, spec: Spec, bundle: Bundle, emit: Emit, save: SaveBundle, choice: RuntimeChoice
    ) -> Bundle:
        """Postgres and Atlas start concurrently: Atlas gets the store locator up front (the
        Postgres port is chosen first) and reports the store unreadable until Postgres is up."""
        run_dir = spec.services_dir / "run"
        pg_config, atlas = spec.postgres, spec.atlas
        bundle["runtime"] = choice.runtime
        if choice.in_containers:
            bundle["engine"] = choice.engine_url
            await emit("INFO", message=f"runtime {choice.runtime} ({choice.reason})")
        await asyncio.to_thread(_remove_leftover_containers, spec, choice)
        network = local_network()
        if pg_config is not None and pg_config.port:
            network.check_port(pg_config.port, "services.postgres.port")
        if atlas is not None and atlas.port:
            network.check_port(atlas.port, "services.atlas.port")
        planned_port = 0
        if pg_config is not None:
            planned_port = pg_config.port or network.free_port()
            bundle["store_locator"] = _planned_locator(spec, pg_config, planned_port, run_dir)
        else:
            bundle["store_locator"] = spec.file_root or str(spec.project_dir / "experiments")
        waits: list[Awaitable[Any]] = []
        if pg_config is not None:
            await emit("STARTING", "postgres", "initialising and starting PostgreSQL")
            waits.append(
                self._start_postgres(
                    spec, pg_config, planned_port, run_dir, network, choice, bundle, save
                )
            )
        if atlas is not None:
            await emit("STARTING", "atlas", "starting the dashboard")
            waits.append(
                self._start_atlas(
                    spec, atlas, bundle["store_locator"], bundle, save, network, {planned_port}
                )
            )
        results = await asyncio.gather(*waits, return_exceptions=True)
        if pg_config is not None and not isinstance(results[0], BaseException):
            entry = results[0]
            bundle["services"]["postgres"] = entry
            bundle["store_locator"] = pg_plugin.locator_of(entry, spec.file_root)
            await save(bundle)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        if pg_config is not None:
            entry = bundle["services"]["postgres"]
            await emit("READY", "postgres", f"{entry['host']}:{entry['port']}")
            if atlas is not None and entry["port"] != planned_port:
                await self._restart_atlas(spec, atlas, bundle, save, network)
        if atlas is not None:
            await emit("READY", "atlas", bundle["services"]["atlas"]["url"])
        bundle["tunnel_targets"] = tunnel_targets(bundle["services"])
        return bundle

    async def _restart_atlas(
        self,
        spec: Spec,
        atlas: AtlasService,
        bundle: Bundle,
        save: SaveBundle,
        network: LocalNetwork,
    ) -> None:
        """Postgres had to move to another port (lost a bind race): point Atlas at it."""
        await _stop_entry(spec, bundle, "atlas", bundle["services"]["atlas"])
        postgres_port = {int(bundle["services"]["postgres"]["port"])}
        await self._start_atlas(
            spec, atlas, bundle["store_locator"], bundle, save, network, postgres_port
        )

    async def _start_postgres(
        self,
        spec: Spec,
        config: PostgresService,
        port: int,
        run_dir: Path,
        network: LocalNetwork,
        choice: RuntimeChoice,
        bundle: Bundle,
        save: SaveBundle,
    ) -> dict[str, Any]:
        data_dir = data_dir_of(spec.services_dir)
        password = config.password.get_secret_value() if config.password else None
        settings = pg_plugin.settings(
            config, port=port, password=password, listen=network.postgres_listen
        )
        await asyncio.to_thread(stop_unrecorded_server, data_dir)
        if not choice.in_containers:
            handle = await pg_launch.start(settings, data_dir, run_dir)
            return _postgres_entry(handle)
        from metalab_orchestrator.runtime import container_services as cs

        async def record(entry: dict[str, Any]) -> None:
            bundle["services"]["postgres"] = entry
            await save(bundle)

        return await cs.start_postgres(
            choice.engine_url,
            _owner(spec),
            settings,
            image=config.image or _default_image("postgres"),
            data_dir=data_dir,
            run_dir=run_dir,
            pick_port=network.free_port,
            record=record,
        )

    async def _start_atlas(
        self,
        spec: Spec,
        config: AtlasService,
        locator: str,
        bundle: Bundle,
        save: SaveBundle,
        network: LocalNetwork,
        taken: set[int],
    ) -> dict[str, Any]:
        if config.port:
            ensure_port_free(LOOPBACK, config.port, key="services.atlas.port")
        port = config.port or network.free_port(exclude=taken)
        if bundle.get("runtime") in ("docker", "podman"):
            return await self._start_atlas_container(spec, config, locator, bundle, save, port)
        directory = atlas_dir(spec.services_dir)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_path = log_paths_of(spec.services_dir)["atlas"]
        # A token even on loopback, as Jupyter's: every local account can reach a loopback port.
        token, token_file = atlas_plugin.new_token(directory)
        args = atlas_plugin.atlas_args(locator, network.bind_host, port, spec.key.path)
        await asyncio.to_thread(stop_unrecorded_atlas, spec.services_dir)
        record = atlas_plugin.spawn(
            args,
            token=token,
            drop_env="METALAB_TOKEN",
            log_path=log_path,
            cwd=spec.services_dir,
            record_path=atlas_pid_file(spec.services_dir),
        )
        url = f"http://{LOOPBACK}:{port}"
        entry = atlas_plugin.atlas_entry(
            LOOPBACK,
            port,
            url,
            token_file,
            log_path,
            pid=record.pid,
            start_time=record.start_time,
            pgid=record.pgid,
        )
        bundle["services"]["atlas"] = entry
        await save(bundle)

        async def alive() -> bool:
            return is_alive(record)

        await atlas_launch.wait_atlas(
            port, token, config.start_timeout, log_path, alive, NATIVE_POLL
        )
        return entry

    async def _start_atlas_container(
        self,
        spec: Spec,
        config: AtlasService,
        locator: str,
        bundle: Bundle,
        save: SaveBundle,
        port: int,
    ) -> dict[str, Any]:
        from metalab_orchestrator.runtime import container_services as cs

        async def record(entry: dict[str, Any]) -> None:
            bundle["services"]["atlas"] = entry
            await save(bundle)

        pg_config = spec.postgres
        store = Path(spec.file_root) if spec.file_root else spec.project_dir / "experiments"
        return await cs.start_atlas(
            str(bundle["engine"]),
            _owner(spec),
            image=config.image or _default_image("atlas"),
            account=cs.service_account(pg_config.run_as if pg_config else None),
            port=port,
            locator=locator,
            bundle_path=spec.key.path,
            readable=[store.absolute(), spec.services_dir / "run"],
            start_timeout=config.start_timeout,
            record=record,
        )

    async def ready(self, spec: Spec, bundle: Bundle, emit: Emit) -> None:
        """PostgreSQL is ready: redo, in the background, the index writes a sweep could not
        make while it was away (`index_catch_up`); `up` does not wait for them."""
        from metalab_orchestrator.index_catch_up import start_local

        if "postgres" not in bundle.get("services", {}) or not spec.file_root:
            return
        locator = str(bundle.get("store_locator", ""))
        started = await asyncio.to_thread(start_local, locator, spec.file_root, spec.services_dir)
        if started is not None:
            waiting, log_path = started
            message = f"{waiting} write(s) pending; redone in the background (log: {log_path})"
            await emit("INFO", "postgres", f"index catch-up: {message}")

    async def adopt(
        self, spec: Spec, bundle: Bundle, emit: Emit, save: SaveBundle
    ) -> Bundle | None:
        return None  # processes of an interrupted start are stopped, not resumed

    async def probe(self, spec: Spec, bundle: Bundle) -> list[Probe]:
        probes = await probe_bundle(bundle, spec.services_dir)
        switched = runtime_switch(getattr(spec.environment, "runtime", "auto"), bundle)
        if switched:
            return [Probe(p.name, p.host, p.port, False, p.state, switched, p.url) for p in probes]
        return probes

    async def recover(self, spec: Spec, emit: Emit) -> bool:
        """Stop the Atlas of ``atlas/atlas.pid``, the PostgreSQL of ``postmaster.pid`` and the
        containers labelled with this environment when they are its own (no bundle needed)."""
        stopped = False
        if await asyncio.to_thread(stop_unrecorded_atlas, spec.services_dir):
            await emit("STOPPED", "atlas", "stopped (recorded in its pid file)")
            stopped = True
        if await asyncio.to_thread(stop_unrecorded_server, data_dir_of(spec.services_dir)):
            await emit("STOPPED", "postgres", "stopped (recorded in postmaster.pid)")
            stopped = True
        if await asyncio.to_thread(remove_unrecorded_containers, spec):
            await emit("STOPPED", message="removed this environment's unrecorded containers")
            stopped = True
        return stopped

    async def stop(self, spec: Spec, bundle: Bundle, emit: Emit) -> None:
        """Stop each recorded process that is provably this environment's own (see
        `process.refusal`); a record naming anything else is reported and left alone."""
        services = bundle.get("services", {})
        for name in ("atlas", "postgres"):
            handle = services.get(name)
            if handle is None:
                continue
            await emit("STOPPING", name)
            try:
                await _stop_entry(spec, bundle, name, handle)
            except NotOurProcess as exc:
                await emit("INFO", name, f"not signalled: {exc}")
                continue
            await emit("STOPPED", name)
        if engine_of(bundle):
            await asyncio.to_thread(remove_unrecorded_containers, spec)

    def describe(self, spec: Spec, nonce: str) -> str:
        names = [n for n, c in (("postgres", spec.postgres), ("atlas", spec.atlas)) if c]
        where = spec.services_dir
        runtime = getattr(spec.environment, "runtime", "auto")
        return (
            f"local services (runtime {runtime}): {', '.join(names) or 'nothing'}; "
            f"state under {where}\n"
        )

    def log_paths(self, spec: Spec, bundle: Bundle) -> dict[str, Path]:
        """The logs of the services the bundle names, at the paths this backend writes them."""
        known = log_paths_of(spec.services_dir)
        return {name: known[name] for name in bundle.get("services", {}) if name in known}


async def probe_bundle(bundle: Bundle, services_dir: Path) -> list[Probe]:
    """Real checks of every service a local bundle records (`check_bundle`, in a thread)."""
    return await asyncio.to_thread(check_bundle, bundle, services_dir)


def _planned_locator(spec: Spec, config: PostgresService, port: int, run_dir: Path) -> str:
    from metalab_orchestrator.runtime.pg_handle import build_locator
    from metalab_orchestrator.runtime.pg_layout import PASSFILE_NAME

    return build_locator(
        user=config.user,
        host=LOOPBACK,
        port=port,
        database=config.database,
        passfile=run_dir / PASSFILE_NAME,
        file_root=spec.file_root,
    )


def _postgres_entry(handle: PostgresHandle) -> dict[str, Any]:
    return pg_plugin.postgres_entry(
        handle,
        host=handle.host,
        passfile=handle.passfile,
        pid=handle.pid,
        start_time=handle.start_time,
        pgid=handle.pid,
    )


def _owner(spec: Spec) -> Owner:
    from metalab_orchestrator.runtime.containers import Owner

    return Owner(spec.project, spec.name, spec.services_dir.resolve())  # as the engine reports


def _default_image(service: str) -> str:
    from metalab_orchestrator.runtime import containers

    return containers.POSTGRES_IMAGE if service == "postgres" else containers.ATLAS_IMAGE


def _choose(spec: Spec) -> RuntimeChoice:
    from metalab_orchestrator.runtime.runtime_choice import choose_runtime

    return choose_runtime(getattr(spec.environment, "runtime", "auto"))


def remove_unrecorded_containers(spec: Spec) -> bool:
    """`teardown.remove_unrecorded_containers` for ``spec``'s environment."""
    runtime = getattr(spec.environment, "runtime", "auto")
    return teardown.remove_unrecorded_containers(
        runtime, spec.project, spec.name, spec.services_dir
    )


def _remove_leftover_containers(spec: Spec, choice: RuntimeChoice) -> None:
    """Remove containers a crashed ``up`` left on this environment. Under the native runtime
    this runs only when a server may still hold the data directory, on each engine there (a
    container's server would not see a native one's ``postmaster.pid``, nor it the container's)."""
    from metalab_orchestrator.runtime import containers, engines

    if choice.in_containers:
        containers.remove_leftovers(choice.engine_url, _owner(spec), STOP_GRACE)
        return
    if not (spec.services_dir / "postgres" / "data" / "postmaster.pid").exists():
        return
    for name in ("docker", "podman"):
        url = engines.engine_url(name)
        if engines.may_answer(url) and not engines.probe_engine(url):
            containers.remove_leftovers(url, _owner(spec), STOP_GRACE)


async def _stop_entry(spec: Spec, bundle: Bundle, name: str, handle: dict[str, Any]) -> None:
    """Stop one recorded service: its container, PostgreSQL's server, or a process group."""
    if handle.get("runtime") == "container":
        from metalab_orchestrator.runtime.containers import remove

        ref = str(handle.get("container_id", ""))
        url = engine_of(bundle)
        if not url:
            return
        await asyncio.to_thread(remove, url, ref, _owner(spec), name, STOP_GRACE)
    else:
        await asyncio.to_thread(teardown.stop_native, name, handle, spec.services_dir)
