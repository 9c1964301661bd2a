"""`services down` of a local environment without gRPC, click or pydantic.

In embedded mode only (no server configured, no remote registry, no shared root), and only for a
``ready`` bundle of native processes, the steps of the orchestrator's `down` run here, in the same
order and with the same code: the provisioning lock, the bundle read and identity check, each
recorded process stopped by `metalab_orchestrator.runtime.teardown` (the backend's own functions,
with its identity checks: pid, start time, account, executable), the services directory's records
recovered, every service probed gone, and the bundle deleted through the registry's `BundleStore`.

Anything unusual — no bundle, a corrupt or foreign one, containers, a lock held by a running
`up`/`down`, a process the identity checks refuse — returns None before anything is printed or
signalled, and the orchestrator does the whole `down` over gRPC and reports it its own way.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metalab._config.resolve import Environment

SERVICES = ("atlas", "postgres")  # the backend's stopping order: reverse dependency order
LEAVE = "Interrupted again: run `metalab services down` to finish stopping."


class Reporter:
    """The progress lines of `services down` on stderr (``[ 0.4s] stopping atlas``), as
    `metalab._cli.progress.Progress` prints them, without click."""

    def __init__(self, quiet: bool) -> None:
        self._quiet = quiet
        self._start = time.monotonic()

    def __call__(self, message: str) -> None:
        if self._quiet:
            return
        elapsed = time.monotonic() - self._start
        sys.stderr.write(f"[{elapsed:5.1f}s] {message}\n")
        sys.stderr.flush()


def _embedded_local(environment: Environment) -> bool:
    if environment.type != "local":
        return False
    if os.environ.get("METALAB_SHARED_ROOT") or os.environ.get("METALAB_REGISTRY_ADDRESS"):
        return False
    from metalab._client import embedded
    from metalab._client.target import resolve_target

    return not resolve_target().address and embedded.available()


def _native_ready(bundle: dict[str, Any]) -> bool:
    """A ready bundle of native processes only, of the services the local backend stops."""
    services = bundle.get("services")
    return (
        bundle.get("state") == "ready"
        and not bundle.get("job_id")
        and not bundle.get("engine")
        and bundle.get("runtime", "native") == "native"
        and isinstance(services, dict)
        and set(services) <= set(SERVICES)
        and all(isinstance(h, dict) and h.get("runtime") != "container" for h in services.values())
    )


def stop_services(environment: Environment, quiet: bool) -> bool | None:
    """Stop a local environment's services as the orchestrator's `down` would: True when they
    were stopped; None when the orchestrator must do it (nothing was signalled then)."""
    if not _embedded_local(environment):
        return None
    from metalab.core.bundle.files import bundle_path, check_services_dir
    from metalab.errors import MetalabError

    path = bundle_path(environment.project, environment.name, environment.file_root)
    services_dir = path.parent
    if not services_dir.is_dir():
        return None  # nothing recorded here: the orchestrator's recovery reports it
    try:
        check_services_dir(services_dir)
    except MetalabError:
        return None
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(services_dir / ".provision.lock", flags, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # an `up` or `down` is at work: the orchestrator waits for it
        return _stop_locked(environment, path, Reporter(quiet))
    finally:
        os.close(fd)


def _stop_locked(environment: Environment, path: Path, report: Reporter) -> bool | None:
    from metalab._client import embedded
    from metalab.core.bundle.files import read_bundle
    from metalab.errors import MetalabError

    services_dir = path.parent
    try:
        bundle = read_bundle(path, environment.project, environment.name)
        if bundle is None or not _native_ready(bundle):
            return None
        services: dict[str, dict[str, Any]] = bundle["services"]
        for name in SERVICES:
            if name in services and embedded.native_refusal(name, services[name], services_dir):
                return None  # the orchestrator reports what it does not signal
    except MetalabError:
        return None
    with _Interruptible():
        _stop(environment, bundle, services_dir, report)
    return True


def _stop(
    environment: Environment, bundle: dict[str, Any], services_dir: Path, report: Reporter
) -> None:
    """`LocalBackend.stop`, `recover` and the final probe of `Lifecycle._stop_and_forget`."""
    from metalab._client import embedded

    services: dict[str, dict[str, Any]] = bundle["services"]
    for name in SERVICES:
        if name not in services:
            continue
        _Interruptible.check()
        report(f"stopping {name}")
        refused = embedded.stop_native(name, services[name], services_dir)
        if refused is not None:
            report(f"info {name}: not signalled: {refused}")
            continue
        report(f"stopped {name}")
    embedded.stop_rest(environment, bundle, services_dir, report, _Interruptible.check)


class _Interruptible:
    """Ctrl+C as `metalab._cli.interrupt` treats it during `down`: the first lets the service
    being stopped finish stopping and then aborts (``Aborted.``, exit 130, the bundle kept for
    the next `down`); a second leaves at once."""

    interrupted = False

    def __enter__(self) -> None:
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    @classmethod
    def _on_sigint(cls, signum: int, frame: FrameType | None) -> None:
        if cls.interrupted:
            sys.stderr.write(LEAVE + "\n")
            sys.stderr.flush()
            os._exit(130)
        cls.interrupted = True

    @classmethod
    def check(cls) -> None:
        if cls.interrupted:
            sys.stderr.write("\nAborted.\n")
            sys.stderr.flush()
            sys.exit(130)
