"""The backend interface: start, probe, stop (and where the logs are)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

from metalab.core.bundle import Bundle

if TYPE_CHECKING:
    from metalab_orchestrator.spec import Spec


class Emit(Protocol):
    async def __call__(
        self, phase: str, service: str = "", message: str = "", log_tail: str = ""
    ) -> None: ...


SaveBundle = Callable[[Bundle], Awaitable[None]]


class Probe(NamedTuple):
    """The health of one service of a bundle, from a real check."""

    name: str
    host: str
    port: int
    healthy: bool
    state: str  # running | unreachable | unknown
    detail: str = ""
    url: str = ""


class Backend(Protocol):
    async def start(self, spec: Spec, bundle: Bundle, emit: Emit, save: SaveBundle) -> Bundle:
        """Start the declared services, recording each in ``bundle`` (saved as it grows)."""

    async def adopt(
        self, spec: Spec, bundle: Bundle, emit: Emit, save: SaveBundle
    ) -> Bundle | None:
        """Finish what a ``provisioning`` bundle started (e.g. wait for its pending job).

        None: nothing to resume; the lifecycle then cleans the bundle up and starts afresh.
        """

    async def probe(self, spec: Spec, bundle: Bundle) -> list[Probe]:
        """Real health checks of every service of ``bundle`` (``spec`` says how to reach it)."""

    async def stop(self, spec: Spec, bundle: Bundle, emit: Emit) -> None:
        """Stop everything ``bundle`` records, in reverse dependency order; idempotent."""

    async def recover(self, spec: Spec, emit: Emit) -> bool:
        """Stop what the services directory's own records (pid files) name, without a bundle
        (deleted, corrupt, or never written); True when something was stopped."""

    def log_paths(self, spec: Spec, bundle: Bundle) -> dict[str, Path]:
        """Each service's log file."""

    def describe(self, spec: Spec, nonce: str) -> str:
        """What ``start`` would do, for ``services up --dry-run``; never holds a secret."""
