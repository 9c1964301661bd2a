"""The local backend: services as detached process groups on this machine.

Postgres starts first (the store), then Atlas reading it; teardown is the reverse. Each process
is recorded in the bundle as soon as it exists, so a crash anywhere leaves a record the next
call uses to stop it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import sys
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from signal import SIGINT
from typing import TYPE_CHECKING, Any

from metalab.errors import ProvisioningFailed
from metalab_orchestrator.backends.base import Bundle, Emit, Probe, SaveBundle
from metalab_orchestrator.local.network import LocalNetwork, local_network
from metalab_orchestrator.local.ports import ensure_port_free
from metalab_orchestrator.local.process import (
    NotOurProcess,
    Ownership,
    ProcessRecord,
    is_alive,
    is_ours,
    spawn_detached,
    tail,
    terminate_group,
)
from metalab_orchestrator.probes import probe_http, probe_postgres

if TYPE_CHECKING:
    from metalab._config.schema import AtlasService, PostgresService
    from metalab_orchestrator.local.pg_handle import PostgresHandle
    from metalab_orchestrator.spec import Spec

LOOPBACK = "127.0.0.1"
STOP_GRACE = 5.0
READY_POLL = (0.01, 0.1)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _record(handle: dict[str, Any]) -> ProcessRecord:
    """The process a bundle's service entry records, typed by `ServiceRecord`."""
    from metalab._bundle.model import ServiceRecord

    entry = ServiceRecord.from_dict(handle)
    return ProcessRecord(entry.pid, entry.start_time, entry.pgid or entry.pid)


# Where each service's files are, derived from the environment's services directory alone: a
# bundle (which another process may have written) never supplies a path this backend opens.
def atlas_dir(services_dir: Path) -> Path:
    return services_dir / "atlas"


def run_dir_of(services_dir: Path) -> Path:
    return services_dir / "run"


def data_dir_of(services_dir: Path) -> Path:
    return services_dir / "postgres" / "data"


def log_paths_of(services_dir: Path) -> dict[str, Path]:
    return {
        "postgres": run_dir_of(services_dir) / "postgres.log",
        "atlas": atlas_dir(services_dir) / "atlas.log",
    }


def atlas_owner() -> Ownership:
    """An Atlas this account started: a Python running ``-m metalab.atlas``."""
    interpreter = os.path.basename(os.path.realpath(sys.executable))
    return Ownership(
        frozenset({os.geteuid()}),
        executables=(interpreter, "python3", "python"),
        cmdline=("metalab.atlas",),
    )


def atlas_pid_file(services_dir: Path) -> Path:
    """Atlas's own record (pid and start time), written before the bundle records it."""
    return atlas_dir(services_dir) / "atlas.pid"


def write_atlas_pid(services_dir: Path, record: ProcessRecord) -> None:
    from metalab._fs import write_atomic

    write_atomic(atlas_pid_file(services_dir), f"{record.pid} {record.start_time}\n".encode())


def read_atlas_pid(services_dir: Path) -> ProcessRecord | None:
    """The recorded Atlas, when the pid file is a regular 0600 file of ours that parses."""
    try:
        fd = os.open(atlas_pid_file(services_dir), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            return None
        pid_text, start_text = os.read(fd, 64).decode("ascii").split()
        pid, start_time = int(pid_text), int(start_text)
    except (OSError, ValueError):  # unreadable, not ASCII, not two integers
        return None
    finally:
        os.close(fd)
    return ProcessRecord(pid, start_time, pid)


def stop_unrecorded_atlas(services_dir: Path) -> bool:
    """Stop the Atlas the pid file names when it is ours and still runs; True when stopped."""
    record = read_atlas_pid(services_dir)
    if record is None:
        return False
    owner = atlas_owner()
    running = is_ours(record, owner)
    try:
        terminate_group(record, STOP_GRACE, owner=owner)
    except NotOurProcess:
        running = False
    atlas_pid_file(services_dir).unlink(missing_ok=True)
    return running


def service_owner(name: str, services_dir: Path) -> Ownership:
    from metalab_orchestrator.local.pg_layout import server_owner

    if name == "postgres":
        return server_owner(data_dir_of(services_dir))
    return atlas_owner()


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
        await asyncio.to_thread(
            terminate_group, _record(bundle["services"]["atlas"]), STOP_GRACE, owner=atlas_owner()
        )
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

        data_dir = data_dir_of(spec.services_dir)
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
        directory = atlas_dir(spec.services_dir)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_path = log_paths_of(spec.services_dir)["atlas"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB_TOKEN")}
        token_file = None
        if not network.loopback_only:  # reachable beyond loopback: Atlas requires a token
            from metalab_orchestrator.local.secret_files import write_secret

            token_file = directory / "atlas.token"
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
        await asyncio.to_thread(stop_unrecorded_atlas, spec.services_dir)
        record = spawn_detached(argv, log_path=log_path, env=env, cwd=spec.services_dir)
        write_atlas_pid(spec.services_dir, record)
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
        return await probe_bundle(bundle, spec.services_dir)

    async def recover(self, spec: Spec, emit: Emit) -> bool:
        """Stop the Atlas of ``atlas/atlas.pid`` and the PostgreSQL of ``postmaster.pid`` when
        they are this environment's and run (no bundle needed)."""
        stopped = False
        if await asyncio.to_thread(stop_unrecorded_atlas, spec.services_dir):
            await emit("STOPPED", "atlas", "stopped (recorded in its pid file)")
            stopped = True
        if await asyncio.to_thread(stop_unrecorded_server, data_dir_of(spec.services_dir)):
            await emit("STOPPED", "postgres", "stopped (recorded in postmaster.pid)")
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
                if name == "postgres":
                    from metalab_orchestrator.local.postgres import stop_postgres

                    await asyncio.to_thread(
                        stop_postgres, _postgres_handle(spec.services_dir, handle), STOP_GRACE
                    )
                else:
                    await asyncio.to_thread(
                        terminate_group, _record(handle), STOP_GRACE, owner=atlas_owner()
                    )
            except NotOurProcess as exc:
                await emit("INFO", name, f"not signalled: {exc}")
                continue
            await emit("STOPPED", name)

    def describe(self, spec: Spec, nonce: str) -> str:
        names = [n for n, c in (("postgres", spec.postgres), ("atlas", spec.atlas)) if c]
        where = spec.services_dir
        return f"local processes: {', '.join(names) or 'nothing'}; state under {where}\n"

    def log_paths(self, spec: Spec, bundle: Bundle) -> dict[str, Path]:
        """The logs of the services the bundle names, at the paths this backend writes them."""
        known = log_paths_of(spec.services_dir)
        return {name: known[name] for name in bundle.get("services", {}) if name in known}


async def probe_bundle(bundle: Bundle, services_dir: Path) -> list[Probe]:
    """Real checks of every service a local bundle records (needs no spec: cheap to import).

    Only the bundle's processes, hosts and ports are used; files (passfile, token) come from
    ``services_dir``, and a process is alive only when it is provably this environment's own.
    """
    services = bundle.get("services", {})
    return list(await asyncio.gather(*(_probe_one(n, services[n], services_dir) for n in services)))


async def _probe_one(name: str, handle: dict[str, Any], services_dir: Path) -> Probe:
    host, port = str(handle.get("host", "")), int(handle.get("port", 0))
    if name not in ("postgres", "atlas") or not is_ours(
        _record(handle), service_owner(name, services_dir)
    ):
        return Probe(
            name, host, port, False, "unreachable", "process is gone", handle.get("url", "")
        )
    if name == "postgres":
        from metalab_orchestrator.local.pg_layout import PASSFILE_NAME

        ok, detail = await probe_postgres(
            host,
            port,
            str(handle.get("user")),
            str(handle.get("database")),
            str(run_dir_of(services_dir) / PASSFILE_NAME),
        )
    else:
        ok, detail = await probe_http(host, port, token=_atlas_token(handle, services_dir))
    state = "running" if ok else "unreachable"
    return Probe(name, host, port, ok, state, detail, str(handle.get("url", "")))


def _atlas_token(handle: dict[str, Any], services_dir: Path) -> str | None:
    """The token of an Atlas started beyond loopback (its 0600 token file)."""
    if not handle.get("secret_ref"):
        return None
    from metalab_orchestrator.local.secret_files import read_secret

    return (read_secret(atlas_dir(services_dir) / "atlas.token") or "").strip() or None


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
    from metalab_orchestrator.local.pg_layout import PASSFILE_NAME

    return build_locator(
        user=config.user,
        host=LOOPBACK,
        port=port,
        database=config.database,
        passfile=run_dir / PASSFILE_NAME,
        file_root=spec.file_root,
    )


def stop_unrecorded_server(data_dir: Path) -> bool:
    """Stop a server left on this environment's data dir by a crashed `up` (no bundle
    recorded it). The data dir belongs to this project and environment alone."""
    from metalab_orchestrator.local.pg_layout import server_owner
    from metalab_orchestrator.local.process import read_proc_stat

    try:
        first_line = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        pid = int(first_line)
    except (OSError, ValueError):
        return False
    if pid <= 1:
        return False
    found = read_proc_stat(pid)
    try:
        cwd_matches = Path(f"/proc/{pid}/cwd").resolve() == data_dir.resolve()
    except OSError:
        cwd_matches = False
    if found is None or found.state in ("Z", "X") or not cwd_matches:
        return False
    try:
        terminate_group(
            ProcessRecord(pid, found.start_time, pid),
            STOP_GRACE,
            first_signal=SIGINT,
            owner=server_owner(data_dir),
        )
    except NotOurProcess:
        return False  # not this data directory's server: nothing of ours to stop
    return True


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


def _postgres_handle(services_dir: Path, entry: dict[str, Any]) -> PostgresHandle:
    """The recorded server (typed by `ServiceRecord`), with every path derived from
    ``services_dir``, not taken from the bundle."""
    from metalab._bundle.model import ServiceRecord
    from metalab_orchestrator.local.pg_handle import PostgresHandle
    from metalab_orchestrator.local.pg_layout import PASSFILE_NAME, PASSWORD_NAME

    record = ServiceRecord.from_dict(entry, "services.postgres.")
    run_dir = run_dir_of(services_dir)
    return PostgresHandle(
        host=record.host,
        port=record.port,
        pid=record.pid,
        start_time=record.start_time,
        data_dir=data_dir_of(services_dir),
        socket_dir=run_dir,
        password_file=run_dir / PASSWORD_NAME,
        passfile=run_dir / PASSFILE_NAME,
        log_path=log_paths_of(services_dir)["postgres"],
        database=record.database,
        user=record.user,
    )


def _tunnel_targets(bundle: Bundle) -> list[dict[str, Any]]:
    targets = []
    for name, scheme in (("atlas", "http"), ("postgres", "postgresql")):
        handle = bundle["services"].get(name)
        if handle:
            targets.append(
                {"service": name, "host": handle["host"], "port": handle["port"], "scheme": scheme}
            )
    return targets
