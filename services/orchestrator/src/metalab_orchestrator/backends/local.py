"""The local backend: services as detached process groups on this machine.

Postgres starts first (the store), then Atlas reading it; teardown is the reverse. Each process
is recorded in the bundle as soon as it exists, so a crash anywhere leaves a record the next
call uses to stop it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from signal import SIGINT
from typing import TYPE_CHECKING, Any

from metalab.errors import ProvisioningFailed
from metalab_orchestrator.backends.base import Bundle, Emit, Probe, SaveBundle
from metalab_orchestrator.local.health import check_bundle
from metalab_orchestrator.local.health import record_of as _record
from metalab_orchestrator.local.network import LocalNetwork, local_network
from metalab_orchestrator.local.ports import ensure_port_free
from metalab_orchestrator.local.process import (
    ProcessRecord,
    is_alive,
    spawn_detached,
    tail,
    terminate_group,
)
from metalab_orchestrator.probes import probe_http

if TYPE_CHECKING:
    from metalab._config.schema import AtlasService, PostgresService
    from metalab_orchestrator.local.pg_handle import PostgresHandle
    from metalab_orchestrator.spec import Spec

LOOPBACK = "127.0.0.1"
STOP_GRACE = 5.0
READY_POLL = (0.01, 0.1)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LocalBackend:
    """Processes on this machine, in their own sessions so they outlive the caller."""

    async def start(self, spec: Spec, bundle: Bundle, emit: Emit, save: SaveBundle) -> Bundle:
        """Postgres and Atlas start concurrently: Atlas gets the store locator up front (the
        Postgres port is chosen first) and reports the store unreadable until Postgres is up."""
        run_dir = spec.services_dir / "run"
        pg_config, atlas = spec.postgres, spec.atlas
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
            waits.append(self._start_postgres(spec, pg_config, planned_port, run_dir, network))
        if atlas is not None:
            await emit("STARTING", "atlas", "starting the dashboard")
            waits.append(
                self._start_atlas(
                    spec, atlas, bundle["store_locator"], bundle, save, network, {planned_port}
                )
            )
        results = await asyncio.gather(*waits, return_exceptions=True)
        if pg_config is not None and not isinstance(results[0], BaseException):
            handle = results[0]
            bundle["services"]["postgres"] = _postgres_entry(handle)
            bundle["store_locator"] = handle.locator(spec.file_root)
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
        bundle["tunnel_targets"] = _tunnel_targets(bundle)
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
        await asyncio.to_thread(terminate_group, _record(bundle["services"]["atlas"]), STOP_GRACE)
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
    ) -> PostgresHandle:
        from metalab_orchestrator.local import postgres as pg
        from metalab_orchestrator.local.pg_handle import PostgresSettings

        data_dir = spec.services_dir / "postgres" / "data"
        settings = PostgresSettings(
            auth_method=config.auth_method,
            database=config.database,
            user=config.user,
            port=port,
            password=config.password.get_secret_value() if config.password else None,
            run_as=config.run_as,
            start_timeout=config.start_timeout,
            listen=network.postgres_listen,
        )
        await asyncio.to_thread(stop_unrecorded_server, data_dir)
        return await asyncio.to_thread(
            pg.start_postgres, settings, data_dir=data_dir, run_dir=run_dir
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
        atlas_dir = spec.services_dir / "atlas"
        atlas_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_path = atlas_dir / "atlas.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB_TOKEN")}
        token_file = None
        if not network.loopback_only:  # reachable beyond loopback: Atlas requires a token
            from metalab_orchestrator.local.secret_files import write_secret

            token_file = atlas_dir / "atlas.token"
            env["METALAB_ATLAS_TOKEN"] = secrets.token_urlsafe(32)
            write_secret(token_file, env["METALAB_ATLAS_TOKEN"])
        argv = [
            sys.executable,
            "-m",
            "metalab.atlas",
            "--store",
            locator,
            "--host",
            network.bind_host,
            "--port",
            str(port),
            "--bundle",
            str(spec.key.path),
        ]
        record = spawn_detached(argv, log_path=log_path, env=env, cwd=spec.services_dir)
        entry = {
            "host": LOOPBACK,
            "port": port,
            "url": f"http://{LOOPBACK}:{port}",
            "pid": record.pid,
            "start_time": record.start_time,
            "pgid": record.pgid,
            "log_path": str(log_path),
            "started_at": _now(),
        }
        if token_file is not None:
            entry["secret_ref"] = str(token_file)
        bundle["services"]["atlas"] = entry
        await save(bundle)
        token = env.get("METALAB_ATLAS_TOKEN")
        await _wait_ready(
            "atlas",
            config.start_timeout,
            log_path,
            lambda: probe_http(LOOPBACK, port, token=token),
            lambda: is_alive(record),
        )
        return entry

    async def adopt(
        self, spec: Spec, bundle: Bundle, emit: Emit, save: SaveBundle
    ) -> Bundle | None:
        return None  # processes of an interrupted start are stopped, not resumed

    async def probe(self, spec: Spec, bundle: Bundle) -> list[Probe]:
        return await probe_bundle(bundle)

    async def stop(self, spec: Spec, bundle: Bundle, emit: Emit) -> None:
        services = bundle.get("services", {})
        for name in ("atlas", "postgres"):
            handle = services.get(name)
            if handle is None:
                continue
            await emit("STOPPING", name)
            if name == "postgres":
                from metalab_orchestrator.local.postgres import stop_postgres

                await asyncio.to_thread(stop_postgres, _postgres_handle(handle), STOP_GRACE)
            else:
                await asyncio.to_thread(terminate_group, _record(handle), STOP_GRACE)
            await emit("STOPPED", name)

    def describe(self, spec: Spec, nonce: str) -> str:
        names = [n for n, c in (("postgres", spec.postgres), ("atlas", spec.atlas)) if c]
        where = spec.services_dir
        return f"local processes: {', '.join(names) or 'nothing'}; state under {where}\n"

    def log_paths(self, spec: Spec, bundle: Bundle) -> dict[str, Path]:
        services = bundle.get("services", {})
        return {name: Path(h["log_path"]) for name, h in services.items() if h.get("log_path")}


async def probe_bundle(bundle: Bundle) -> list[Probe]:
    """Real checks of every service a local bundle records (`check_bundle`, in a thread)."""
    return await asyncio.to_thread(check_bundle, bundle)


async def _wait_ready(name: str, budget: float, log_path: Path, check: Any, alive: Any) -> None:
    """Poll ``check`` with a short backoff until it passes; fail fast if the process died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    delay, cap = READY_POLL
    detail = ""
    while loop.time() < deadline:
        ok, detail = await check()
        if ok:
            return
        if not alive():
            raise ProvisioningFailed(f"{name} exited during start-up", tail(log_path, 20))
        await asyncio.sleep(delay)
        delay = min(delay * 2, cap)
    raise ProvisioningFailed(f"{name} not ready after {budget:.0f}s ({detail})", tail(log_path, 20))


def _planned_locator(spec: Spec, config: PostgresService, port: int, run_dir: Path) -> str:
    from metalab_orchestrator.local.pg_handle import build_locator
    from metalab_orchestrator.local.postgres import PASSFILE_NAME

    return build_locator(
        user=config.user,
        host=LOOPBACK,
        port=port,
        database=config.database,
        passfile=run_dir / PASSFILE_NAME,
        file_root=spec.file_root,
    )


def stop_unrecorded_server(data_dir: Path) -> None:
    """Stop a server left on this environment's data dir by a crashed `up` (no bundle
    recorded it). The data dir belongs to this project and environment alone."""
    from metalab_orchestrator.local.process import read_proc_stat

    try:
        first_line = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        pid = int(first_line)
    except (FileNotFoundError, ValueError):
        return
    stat = read_proc_stat(pid)
    try:
        cwd_matches = Path(f"/proc/{pid}/cwd").resolve() == data_dir.resolve()
    except OSError:
        cwd_matches = False
    if stat is None or stat.state in ("Z", "X") or not cwd_matches:
        return
    terminate_group(ProcessRecord(pid, stat.start_time, pid), STOP_GRACE, first_signal=SIGINT)


def _postgres_entry(handle: PostgresHandle) -> dict[str, Any]:
    data = handle.to_dict()
    return {
        "host": handle.host,
        "port": handle.port,
        "pid": handle.pid,
        "start_time": handle.start_time,
        "pgid": handle.pid,
        "data_dir": data["data_dir"],
        "socket_dir": data["socket_dir"],
        "secret_ref": data["password_file"],
        "passfile": data["passfile"],
        "log_path": data["log_path"],
        "database": handle.database,
        "user": handle.user,
        "started_at": _now(),
    }


def _postgres_handle(entry: dict[str, Any]) -> PostgresHandle:
    from metalab_orchestrator.local.pg_handle import PostgresHandle

    return PostgresHandle.from_dict({**entry, "password_file": entry.get("secret_ref", "")})


def _tunnel_targets(bundle: Bundle) -> list[dict[str, Any]]:
    targets = []
    for name, scheme in (("atlas", "http"), ("postgres", "postgresql")):
        handle = bundle["services"].get(name)
        if handle:
            targets.append(
                {"service": name, "host": handle["host"], "port": handle["port"], "scheme": scheme}
            )
    return targets
