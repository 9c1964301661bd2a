"""Backends provision a service set: `local` (processes), `slurm` (one batch job)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metalab.core.errors import ConfigError

if TYPE_CHECKING:
    from metalab_orchestrator.backends.base import Backend


def backend_for(env_type: str) -> Backend:
    """The backend plugin for an environment type."""
    if env_type == "local":
        from metalab_orchestrator.backends.local import LocalBackend

        return LocalBackend()
    if env_type == "slurm":
        from metalab_orchestrator.backends.slurm import SlurmBackend

        return SlurmBackend()
    raise ConfigError(f"no backend for environment type {env_type!r}")
