"""Read-only answers without gRPC: a warm `services up`, a healthy `services status`.

Rule (see docs/architecture.md): in embedded mode only, a read-only answer — a healthy bundle
to reuse, or the status of one — comes from the same code the registry and orchestrator use
(`read_bundle` + the local backend's `check_bundle`), in-process and without asyncio. Anything
else (a remote server, SLURM, a shared root to enforce, an unhealthy or unreadable bundle, one
of another runtime than the configured one) goes to the orchestrator over gRPC, which reports
it properly; so does every change of state. Container bundles are checked by the same code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metalab._client.embedded import Probe
    from metalab._config.resolve import Environment


class HandleView:
    """A ``StatusResponse.bundle.services`` entry: what `render.status_json` reads of it."""

    def __init__(self, handle: dict[str, Any]) -> None:
        self.secret_ref = str(handle.get("secret_ref", ""))


class BundleView:
    """``StatusResponse.bundle`` for a ready local bundle (local bundles have no job id)."""

    job_id = ""
    state = "ready"

    def __init__(self, bundle: dict[str, Any]) -> None:
        self.services = {n: HandleView(h) for n, h in bundle.get("services", {}).items()}


class StatusView:
    """The fields of a StatusResponse that `render.status_output` reads, from a local check."""

    job_state = ""

    def __init__(self, found: bool, services: list[Probe], bundle: dict[str, Any]) -> None:
        self.found = found
        self.services = services
        self.bundle = BundleView(bundle)
        self.index_pending = _index_pending(bundle)


def _index_pending(bundle: dict[str, Any]) -> int:
    """Index writes waiting under the bundle's ``file_root`` (`index_catch_up`)."""
    from metalab._client.embedded import index_pending

    return index_pending(str(bundle.get("file_root", "")))


def _local_bundle(environment: Environment) -> tuple[dict[str, Any], Path] | None:
    """The bundle of a local environment this process may read itself (embedded mode), with
    its services directory."""
    if environment.type != "local" or os.environ.get("METALAB_SHARED_ROOT"):
        return None  # SLURM jobs, and a server's shared-root check, belong to the orchestrator
    from metalab._client.target import resolve_target

    if resolve_target().address:
        return None  # a configured server is always asked
    from metalab._client.embedded import available

    if not available():
        return None  # the plain wheel: the slow path says what to install
    from metalab.core.bundle.files import bundle_path, read_bundle
    from metalab.errors import BundleError

    path = bundle_path(environment.project, environment.name, environment.file_root)
    try:
        bundle = read_bundle(path, environment.project, environment.name)
    except BundleError:
        return None  # the orchestrator reports it properly
    return None if bundle is None else (bundle, path.parent)


def _healthy_probes(
    environment: Environment, bundle: dict[str, Any], services_dir: Path
) -> list[Probe] | None:
    """The probes of ``bundle`` when every service answers, as the local backend's ``probe``
    would give them; None otherwise (a bundle of another runtime than the configured one is
    not healthy there: the orchestrator replaces it)."""
    from metalab._client.embedded import healthy_probes

    return healthy_probes(str(environment.settings.get("runtime", "auto")), bundle, services_dir)


def healthy_bundle(environment: Environment) -> dict[str, Any] | None:
    """The ready bundle when every service in it answers its probe; None otherwise, and
    when index writes wait for PostgreSQL (the orchestrator's `up` starts their catch-up)."""
    found = _local_bundle(environment)
    if found is None or found[0].get("state") != "ready":
        return None
    if "postgres" in found[0].get("services", {}) and _index_pending(found[0]):
        return None
    return found[0] if _healthy_probes(environment, *found) is not None else None


def healthy_status(environment: Environment) -> StatusView | None:
    """`services status` of a ready bundle whose services all answer; None otherwise (a
    ``provisioning`` bundle is never healthy: the orchestrator says why)."""
    found = _local_bundle(environment)
    if found is None or found[0].get("state") != "ready" or found[0].get("job_state"):
        return None
    probes = _healthy_probes(environment, *found)
    return None if probes is None else StatusView(True, probes, found[0])
