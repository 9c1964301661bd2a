"""The batch job's own program: ``python -m metalab_orchestrator.backends.slurm.job``
(``--spec FILE --nonce N``).

Takes the lease on the Postgres data directory, starts PostgreSQL (the local runtime, listening
beyond loopback) and Atlas (token-protected, the token in a 0600 file), checks they answer, then
writes the endpoint file atomically, stamped with the nonce. It then waits: SIGUSR1 (sent
``--signal=B:USR1@N`` before the walltime), SIGTERM (``scancel``) or SIGINT stop everything in
reverse order, PostgreSQL with a fast shutdown. Output (the job's output file) never holds a
secret: passwords and the token are only ever in 0600 files and the environment of Atlas.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import functools
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metalab.core.errors import MetalabError, ProvisioningFailed
from metalab.core.fs import write_atomic
from metalab_orchestrator.backends.slurm.address import advertised_address, url_host
from metalab_orchestrator.backends.slurm.endpoint import AtlasJobSpec, Endpoint, JobSpec
from metalab_orchestrator.plugins import atlas as atlas_plugin
from metalab_orchestrator.plugins import now
from metalab_orchestrator.plugins import postgres as pg_plugin
from metalab_orchestrator.plugins.atlas import launch as atlas_launch
from metalab_orchestrator.plugins.postgres import launch as pg_launch

if TYPE_CHECKING:
    from metalab_orchestrator.runtime.process import ProcessRecord

log = logging.getLogger("metalab.slurm_job")

ANY = "0.0.0.0"
STOP_GRACE = 10.0
SUPERVISE_EVERY = 1.0
# How often the job looks for index writes to redo: writers killed between the files and the
# index leave journals that become due after a minute (metalab.core.intent_journal.STALE).
CATCH_UP_EVERY = 120.0
ATLAS_ATTEMPTS = 3
PORT_ATTEMPTS = 3
STOP_ORDER = ("atlas", "postgres")


def take_lease(path: Path, holder: str) -> int:
    """An exclusive flock on ``path`` (beside the data directory), or ProvisioningFailed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        current = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise ProvisioningFailed(
            f"the PostgreSQL data directory is leased by {current} ({path}); "
            "refusing to start a second server on it"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{holder}\n".encode(), 0)
    return fd


@dataclass
class JobServices:
    """The services this job runs, stopped in reverse order."""

    spec: JobSpec
    job_id: str
    host: str  # the address clients use (see backends/slurm/address.py)
    node: str = ""
    addresses: tuple[str, ...] = ()
    stops: dict[str, Callable[[], None]] = field(default_factory=dict)
    alive: dict[str, Callable[[], bool]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    password: str | None = field(default=None, repr=False)

    async def start(self, stopping: asyncio.Event) -> Endpoint:
        """Start the services; Postgres and Atlas start side by side (Postgres' port is chosen
        first, so Atlas' locator is known), a port lost to a race is chosen afresh."""
        entries: dict[str, dict[str, Any]] = {}
        pg, atlas = self.spec.postgres, self.spec.atlas
        locator = self.spec.file_root or str(Path(self.spec.services_dir).parent)
        if pg is None:
            if atlas is not None:
                entries["atlas"] = await self._start_atlas(atlas, locator)
            return self._endpoint(entries, locator)
        from metalab_orchestrator.runtime.pg_handle import build_locator
        from metalab_orchestrator.runtime.ports import free_port

        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = pg.port or free_port(ANY)
            local = build_locator(
                user=pg.user,
                host="127.0.0.1",
                port=port,
                database=pg.database,
                passfile=self.spec.run_dir / "postgres.pgpass",
                file_root=self.spec.file_root,
            )
            dashboard = None
            if atlas is not None and not stopping.is_set():
                dashboard = asyncio.create_task(self._start_atlas(atlas, local))
            try:
                entries["postgres"], client_locator = await self._start_postgres(port)
            except ProvisioningFailed as exc:
                if dashboard is not None:
                    dashboard.cancel()
                    await asyncio.gather(dashboard, return_exceptions=True)
                    self.stop_all()
                if pg.port or "already in use" not in str(exc) or attempt == PORT_ATTEMPTS:
                    raise
                log.info("port %d was taken; choosing another", port)
                continue
            if dashboard is not None:
                entries["atlas"] = await dashboard
            return self._endpoint(entries, client_locator)
        raise AssertionError("unreachable")

    def _endpoint(self, entries: dict[str, dict[str, Any]], locator: str) -> Endpoint:
        return Endpoint(
            nonce=self.spec.nonce,
            job_id=self.job_id,
            host=self.host,
            state="ready",
            services=entries,
            store_locator=locator,
            written_at=now(),
            node=self.node,
            addresses=list(self.addresses),
        )

    async def _start_postgres(self, port: int) -> tuple[dict[str, Any], str]:
        from metalab_orchestrator.runtime import postgres as pg
        from metalab_orchestrator.runtime.process import ProcessRecord, is_alive
        from metalab_orchestrator.runtime.secret_files import pgpass_line, write_secret

        config = self.spec.postgres
        assert config is not None
        if config.password_file and self.password is None:
            source = Path(config.password_file)
            try:
                self.password = source.read_text(encoding="utf-8")
            except FileNotFoundError:  # a requeued job: its first run consumed the file
                log.info("the configured password was taken by an earlier run of this job")
            else:
                source.unlink(missing_ok=True)  # consumed: the server's own 0600 copy remains
        settings = pg_plugin.settings(config, port=port, password=self.password, listen="*")
        log.info("starting postgres on %s", self.host)
        handle = await pg_launch.start(settings, self.spec.data_dir, self.spec.run_dir)
        self.stops["postgres"] = lambda: pg.stop_postgres(handle, STOP_GRACE)
        record = ProcessRecord(handle.pid, handle.start_time, handle.pid)
        self.alive["postgres"] = lambda: is_alive(record)
        self.logs["postgres"] = handle.log_path
        # Clients connect to the advertised address, or to a tunnel's local port on their own
        # machine: their passfile matches any host and port.
        secret = handle.password_file.read_text(encoding="utf-8")
        client_passfile = self.spec.run_dir / "client.pgpass"
        write_secret(client_passfile, pgpass_line("*", "*", handle.database, handle.user, secret))
        log.info("postgres ready on %s:%d", self.host, handle.port)
        entry = pg_plugin.postgres_entry(
            handle, host=self.host, passfile=client_passfile, node=self.node, job_id=self.job_id
        )
        return entry, pg_plugin.locator_of(entry, self.spec.file_root)

    async def _start_atlas(self, config: AtlasJobSpec, locator: str) -> dict[str, Any]:
        """Atlas on all addresses; a port another process took first is chosen afresh."""
        from metalab_orchestrator.runtime.ports import free_port
        from metalab_orchestrator.runtime.process import is_alive, terminate_group

        run_dir = self.spec.run_dir
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        token, token_file = atlas_plugin.new_token(run_dir)
        log_path = run_dir / "atlas.log"
        for attempt in range(1, ATLAS_ATTEMPTS + 1):
            port = config.port or free_port(ANY)
            offset = log_path.stat().st_size if log_path.exists() else 0
            log.info("starting atlas on %s:%d", self.host, port)
            args = atlas_plugin.atlas_args(locator, ANY, port, self.spec.bundle_path)
            record = atlas_plugin.spawn(
                args, token=token, drop_env="METALAB_", log_path=log_path, cwd=run_dir
            )
            self.stops["atlas"] = functools.partial(terminate_group, record, STOP_GRACE)
            self.alive["atlas"] = functools.partial(is_alive, record)
            self.logs["atlas"] = log_path

            async def alive(record: ProcessRecord = record) -> bool:
                return is_alive(record)

            try:
                await atlas_launch.wait_atlas(port, token, config.start_timeout, log_path, alive)
            except ProvisioningFailed:
                if is_alive(record):  # not ready in time: `stop_all` stops it
                    raise
                self.stops.pop("atlas")
                if config.port or attempt == ATLAS_ATTEMPTS or not _port_clash(log_path, offset):
                    raise
                continue
            log.info("atlas ready on %s:%d", self.host, port)
            url = f"http://{url_host(self.host)}:{port}"
            return atlas_plugin.atlas_entry(
                self.host, port, url, token_file, log_path, node=self.node, job_id=self.job_id
            )
        raise AssertionError("unreachable")

    def first_dead(self) -> str | None:
        for name, alive in self.alive.items():
            if not alive():
                return name
        return None

    def stop_all(self) -> bool:
        """Reverse dependency order: the dashboard before the database it reads; True when
        every service stopped cleanly."""
        clean = True
        for name in STOP_ORDER:
            stop = self.stops.pop(name, None)
            if stop is None:
                continue
            log.info("stopping %s", name)
            try:
                stop()
            except OSError as exc:
                log.warning("stopping %s failed: %s", name, exc)
                clean = False
            else:
                log.info("%s stopped", name)
        return clean


def _port_clash(log_path: Path, offset: int) -> bool:
    """Whether what a service logged from ``offset`` on says its port was taken."""
    with open(log_path, "rb") as f:
        f.seek(offset)
        return b"address already in use" in f.read().lower()


STOP_CAUSES = {
    "SIGUSR1": "its walltime was near (SIGUSR1)",
    "SIGTERM": "it was cancelled, preempted or requeued (SIGTERM)",
    "SIGINT": "it was interrupted (SIGINT)",
}


def stop_note(signame: str, clean: bool) -> str:
    """What `status` says of a job that stopped on ``signame``."""
    cause = STOP_CAUSES.get(signame, signame)
    how = "its services shut down cleanly" if clean else "a service did not stop cleanly"
    return f"stopped because {cause}; {how}; `services up` starts them again"


async def run(spec: JobSpec) -> int:
    job_id = os.environ.get("SLURM_JOB_ID", "")
    node = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    try:
        advertised = await asyncio.to_thread(advertised_address, os.environ, spec.advertise)
    except ValueError as exc:
        log.error("failed: %s", exc)
        failed = Endpoint(
            spec.nonce, job_id, node, "failed", error=str(exc), written_at=now(), node=node
        )
        write_atomic(Path(spec.endpoint), failed.to_json())
        return 1
    host = advertised.host
    log.info("node %s: advertising %s (%s)", node, host, advertised.reason)
    stopping = asyncio.Event()
    why: list[str] = []
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        log.info("received %s: stopping", signum.name)
        why.append(signum.name)
        stopping.set()

    for signum in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    services = JobServices(spec, job_id, host, node, advertised.addresses)
    lease: int | None = None
    ready = False
    try:
        if spec.postgres is not None:
            lease = take_lease(spec.lease, f"job {job_id} on {node} (pid {os.getpid()})")
        endpoint = await services.start(stopping)
        if stopping.is_set():
            return 0
        write_atomic(Path(spec.endpoint), endpoint.to_json())
        ready = True
        log.info("ready: job %s on %s (%s)", job_id, node, host)
        catching_up: asyncio.Task[None] | None = None
        last_catch_up = -math.inf
        while not stopping.is_set():
            due = loop.time() - last_catch_up >= CATCH_UP_EVERY
            if spec.postgres is not None and spec.file_root and due:
                if catching_up is None or catching_up.done():
                    catching_up = asyncio.create_task(
                        _catch_up(endpoint.store_locator, spec.file_root), name="index-catch-up"
                    )
                last_catch_up = loop.time()
            try:
                await asyncio.wait_for(stopping.wait(), SUPERVISE_EVERY)
            except TimeoutError:
                dead = await asyncio.to_thread(services.first_dead)
                if dead is not None:
                    log.error("%s stopped answering; ending the job", dead)
                    return 1
        if catching_up is not None and not catching_up.done():
            catching_up.cancel()
        return 0
    except (MetalabError, OSError, ValueError) as exc:
        log_tail = getattr(exc, "log_tail", "")
        log.error("failed: %s", exc)
        if log_tail:
            print(log_tail, flush=True)
        failed = Endpoint(
            spec.nonce,
            job_id,
            host,
            "failed",
            error=str(exc),
            log_tail=log_tail,
            written_at=now(),
            node=node,
        )
        write_atomic(Path(spec.endpoint), failed.to_json())
        return 1
    finally:
        clean = await asyncio.to_thread(services.stop_all)
        if lease is not None:
            os.close(lease)
        if why and ready:
            stopped = Endpoint(
                spec.nonce,
                job_id,
                host,
                "stopped",
                error=stop_note(why[0], clean),
                written_at=now(),
                node=node,
            )
            write_atomic(Path(spec.endpoint), stopped.to_json())
        log.info("job done")


async def _catch_up(locator: str, file_root: str) -> None:
    """The index redoes, from the files, what a sweep could not write while it was away."""
    from metalab_orchestrator.index_catch_up import catch_up

    try:
        redone = await asyncio.to_thread(catch_up, locator, file_root)
    except Exception as exc:  # noqa: BLE001 - the files keep the runs; the next start retries
        log.warning("index catch-up failed: %s", exc)
        return
    if redone is not None:
        log.info("index caught up: %d write(s) redone from the files", redone)


def main(argv: list[str] | None = None) -> int:
    """Entry point; exit status 0 after a requested stop, 1 on failure, 2 on bad arguments."""
    parser = argparse.ArgumentParser(prog="python -m metalab_orchestrator.backends.slurm.job")
    parser.add_argument("--spec", required=True, help="The job spec file the client wrote.")
    parser.add_argument("--nonce", required=True, help="The submission this job belongs to.")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s metalab-job: %(message)s"
    )
    try:
        spec = JobSpec.from_json(Path(args.spec).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        log.error("cannot read the job spec %s: %s", args.spec, exc)
        return 2
    if spec.nonce != args.nonce:
        log.error("job spec %s belongs to submission %s, not %s", args.spec, spec.nonce, args.nonce)
        return 2
    return asyncio.run(run(spec))


if __name__ == "__main__":
    sys.exit(main())
