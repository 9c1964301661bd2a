"""Up, down and status for any backend: reuse healthy bundles, clean up stale ones, never leak.

The orchestrator keeps no state in memory. A bundle is saved as soon as the first process
exists (state ``provisioning``), so a crash at any point leaves a record the next call uses to
stop what was started. One file lock per (project, environment) serialises provisioning.

When an ``up`` fails or is cancelled (Ctrl+C, a client gone), stopping what it started runs as
a task of its own that holds the lock until it is done; the server waits for these tasks
(``Lifecycle.drain``) before it exits, so an interrupted ``up`` never leaves a job queued.
"""

from __future__ import annotations

import asyncio
import copy
import fcntl
import getpass
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from metalab.core.bundle import Bundle
from metalab.core.bundle.files import check_identity, check_services_dir
from metalab.core.errors import BundleError, BundleRefused, ProvisioningFailed
from metalab_orchestrator.backends import backend_for
from metalab_orchestrator.backends.base import Backend, Emit, Probe
from metalab_orchestrator.registry_port import RegistryPort
from metalab_orchestrator.spec import Spec

LOCK_POLL = 0.05


class HeldLock:
    """The provisioning lock's file descriptor; whoever holds it last closes it."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def hand_over(self) -> HeldLock:
        """Move the lock to a new holder; this one no longer releases it."""
        fd, self._fd = self._fd, None
        if fd is None:
            raise RuntimeError("the provisioning lock was already handed over")
        return HeldLock(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@asynccontextmanager
async def provisioning_lock(spec: Spec, emit: Emit) -> AsyncIterator[HeldLock]:
    """Exclusive per (project, environment); a waiter reports that it waits."""
    directory = spec.services_dir
    # 0711: other accounts (a configured run_as) may traverse to their own subdirectories but
    # not list; bundle.json and the lock inside are 0600.
    directory.mkdir(parents=True, exist_ok=True, mode=0o711)
    check_services_dir(directory)  # StrictModes: ours, and writable by nobody else
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(directory / ".provision.lock", flags, 0o600)
    held = HeldLock(fd)
    try:
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not announced:
                    await emit("WAITING", message="another `services up/down` is in progress")
                    announced = True
                await asyncio.sleep(LOCK_POLL)
        yield held
    finally:
        held.release()


# What a backend may update in a bundle while probing it (where the services are now).
FOLLOWED = ("services", "store_locator", "tunnel_targets", "expires_at")
SAME = ("nonce", "job_id", "state")  # the saved bundle is still the probed one


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_bundle(spec: Spec) -> Bundle:
    return {
        "project": spec.project,
        "environment": spec.name,
        "profile": spec.type,
        "owner": getpass.getuser(),
        "created_at": now(),
        "nonce": secrets.token_hex(8),
        "file_root": spec.file_root or "",
        "project_dir": str(spec.project_dir),
        "state": "provisioning",
        "services": {},
        "tunnel_targets": [],
        "store_locator": "",
    }


class Lifecycle:
    """The up/down/status flow shared by every backend."""

    def __init__(self, registry: RegistryPort, backend: Backend | None = None) -> None:
        self._registry = registry
        self._backend = backend
        self._cleanups: set[asyncio.Task[None]] = set()

    def backend(self, spec: Spec) -> Backend:
        return self._backend or backend_for(spec.type)

    async def up(self, spec: Spec, emit: Emit, force: bool = False) -> tuple[Bundle, bool]:
        """Provision, or reuse a healthy bundle; returns (bundle, reused). A backend with
        ``ready`` is told once the bundle is ready (the local one catches the index up)."""
        backend = self.backend(spec)
        bundle, reused = await self._up(spec, backend, emit, force)
        ready = getattr(backend, "ready", None)
        if ready is not None:
            await ready(spec, bundle, emit)
        return bundle, reused

    async def _up(
        self, spec: Spec, backend: Backend, emit: Emit, force: bool
    ) -> tuple[Bundle, bool]:
        async with provisioning_lock(spec, emit) as lock:
            existing = await self._existing(spec, backend, emit)

            async def save(current: Bundle) -> None:
                await self._registry.put(spec.key, current)

            if existing is not None:
                if existing.get("state") == "ready" and not force:
                    probes = await self._probe(spec, backend, existing)
                    if probes and all(p.healthy for p in probes):
                        return existing, True
                    dead = ", ".join(p.name for p in probes if not p.healthy) or "none"
                    await emit("INFO", message=f"stale bundle (unhealthy: {dead}); cleaning up")
                else:
                    adopted = (
                        None if force else await self._adopt(spec, backend, existing, emit, lock)
                    )
                    if adopted is not None:
                        return adopted, True
                    await emit("INFO", message="cleaning up an interrupted or replaced bundle")
                await _preflight(backend, spec)
                await self._stop_and_forget(spec, backend, existing, emit)
            else:
                await _preflight(backend, spec)
            bundle = new_bundle(spec)

            try:
                bundle = await backend.start(spec, bundle, emit, save)
            except BaseException:
                await self._clean_up_after(spec, backend, bundle, lock)
                raise
            bundle["state"] = "ready"
            await save(bundle)
            return bundle, False

    async def _adopt(
        self, spec: Spec, backend: Backend, existing: Bundle, emit: Emit, lock: HeldLock
    ) -> Bundle | None:
        """Resume an interrupted provisioning (a pending job) instead of starting another."""

        async def save(current: Bundle) -> None:
            await self._registry.put(spec.key, current)

        try:
            adopted = await backend.adopt(spec, existing, emit, save)
        except BaseException:
            await self._clean_up_after(spec, backend, existing, lock)
            raise
        if adopted is not None:
            adopted["state"] = "ready"
            await save(adopted)
        return adopted

    def plan(self, spec: Spec) -> str:
        """What ``up`` would submit or start (``--dry-run``): no side effect, no secret."""
        return self.backend(spec).describe(spec, "<nonce>")

    async def down(self, spec: Spec, emit: Emit) -> bool:
        """Stop everything and remove the bundle last; False when nothing was running."""
        backend = self.backend(spec)
        async with provisioning_lock(spec, emit):
            existing = await self._existing(spec, backend, emit)
            if existing is None:  # deleted or corrupt: the services directory's records
                return await backend.recover(spec, emit)
            await self._stop_and_forget(spec, backend, existing, emit)
            return True

    async def status(self, spec: Spec) -> tuple[Bundle | None, list[Probe]]:
        existing = await self._registry.get(spec.key)
        if existing is None:
            return None, []
        check_identity(spec.key.path, existing, spec.project, spec.name)
        probes = await self._probe(spec, self.backend(spec), existing, locked=False)
        if existing.get("state") == "ready":
            return existing, probes
        return existing, not_ready(spec, existing, probes)

    async def _probe(
        self, spec: Spec, backend: Backend, bundle: Bundle, *, locked: bool = True
    ) -> list[Probe]:
        """Probe ``bundle``; saved again when the backend found its services moved (a SLURM
        job requeued onto another node), so `discover` and the next call see where they are.
        Unless the caller holds the provisioning lock, only when it is free at once and the
        saved bundle is still this one (a concurrent `down` must not see it come back)."""
        before = {k: copy.deepcopy(bundle.get(k)) for k in FOLLOWED}
        probes = await backend.probe(spec, bundle)
        if all(bundle.get(k) == v for k, v in before.items()):
            return probes
        if locked:
            await self._registry.put(spec.key, bundle)
            return probes
        fd = os.open(
            spec.services_dir / ".provision.lock",
            os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
            0o600,
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            saved = await self._registry.get(spec.key)
            if saved is not None and all(saved.get(k) == bundle.get(k) for k in SAME):
                await self._registry.put(spec.key, bundle)
        except BlockingIOError:
            pass  # an `up` or `down` is at work: it decides what the bundle says
        finally:
            os.close(fd)
        return probes

    async def _existing(self, spec: Spec, backend: Backend, emit: Emit) -> Bundle | None:
        """The environment's bundle, checked to be its own (`BundleRefused` otherwise). A
        corrupt one is set aside: what it may have recorded is stopped from the services
        directory's own records, so nothing is orphaned, and the file is removed."""
        try:
            existing = await self._registry.get(spec.key)
        except BundleRefused:
            raise
        except BundleError as exc:
            await emit("INFO", message=f"{exc}; stopping what the services directory records")
            await backend.recover(spec, emit)
            await self._registry.delete(spec.key)
            return None
        if existing is not None:
            check_identity(spec.key.path, existing, spec.project, spec.name)
        return existing

    async def _clean_up_after(
        self, spec: Spec, backend: Backend, bundle: Bundle, lock: HeldLock
    ) -> None:
        """Stop what a failed or cancelled ``up`` started, in a task that outlives the call.

        The task holds the provisioning lock until it is done; cancelling the caller (again)
        does not cancel it, and ``drain`` waits for it.
        """
        held = lock.hand_over()

        async def clean_up() -> None:
            try:
                await self._stop_and_forget(spec, backend, bundle, _quiet)
            finally:
                held.release()

        task = asyncio.create_task(clean_up(), name=f"clean up {spec.project}/{spec.name}")
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        await asyncio.shield(task)

    async def drain(self) -> None:
        """Wait for every clean-up still running (a server calls this before it exits)."""
        while self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)

    async def _stop_and_forget(
        self, spec: Spec, backend: Backend, bundle: Bundle, emit: Emit
    ) -> None:
        await backend.stop(spec, bundle, emit)
        await backend.recover(spec, emit)  # anything started but not yet recorded
        still = [p.name for p in await backend.probe(spec, bundle) if p.state == "running"]
        if still:
            raise ProvisioningFailed(
                f"could not stop {', '.join(still)}; the bundle is kept at {spec.key.path}"
            )
        await self._registry.delete(spec.key)


def not_ready(spec: Spec, bundle: Bundle, probes: list[Probe]) -> list[Probe]:
    """A bundle still ``provisioning`` is never healthy: an ``up`` is at work (it holds the
    provisioning lock) or was interrupted, and what it recorded may be half-started."""
    if _lock_is_free(spec):
        why = "interrupted provisioning: run `metalab services down` or `up` to clean up"
    else:
        why = "being provisioned by a running `services up`"
    state = str(bundle.get("state") or "provisioning")
    marked = [Probe(p.name, p.host, p.port, False, state, why, p.url) for p in probes]
    return marked or [Probe("provisioning", "", 0, False, state, why)]


def _lock_is_free(spec: Spec) -> bool:
    try:
        fd = os.open(
            spec.services_dir / ".provision.lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        )
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


async def _preflight(backend: Backend, spec: Spec) -> None:
    """What a backend can refuse before anything is stopped or started (e.g. a local runtime
    that is unavailable); backends without such checks have no ``preflight``."""
    check = getattr(backend, "preflight", None)
    if check is not None:
        await check(spec)


async def _quiet(phase: str, service: str = "", message: str = "", log_tail: str = "") -> None:
    return None
