"""The warm `services up` path: answer "already running" without starting gRPC.

Rule (see docs/architecture.md): in embedded mode only, a read-only answer — a healthy bundle
to reuse — comes from the same code the registry and orchestrator use (BundleStore + the
backend's probe), in-process. Any change of state goes through the orchestrator over gRPC.
"""

from __future__ import annotations

import asyncio
from typing import Any

from metalab._config.resolve import Environment


def healthy_bundle(environment: Environment) -> dict[str, Any] | None:
    """The bundle when every service in it answers its probe; None otherwise (or when remote)."""
    from metalab._client.target import resolve_target

    if resolve_target().address or environment.type != "local":
        return None  # remote servers and SLURM jobs are asked through the orchestrator
    from metalab._bundle.files import bundle_path, read_bundle
    from metalab.errors import BundleError

    path = bundle_path(environment.project, environment.name, environment.file_root)
    try:
        bundle = read_bundle(path, environment.project, environment.name)
    except BundleError:
        return None  # the orchestrator reports it properly
    if bundle is None or bundle.get("state") != "ready":
        return None
    from metalab_orchestrator.backends.local import probe_bundle, runtime_switch

    if runtime_switch(str(environment.settings.get("runtime", "auto")), bundle):
        return None  # the orchestrator replaces it under the configured runtime
    probes = asyncio.run(probe_bundle(bundle, path.parent))
    return bundle if probes and all(p.healthy for p in probes) else None
