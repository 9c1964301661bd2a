"""The SLURM backend: services in one batch job (script, runner, poller, endpoint, backend)."""

from metalab_orchestrator.backends.slurm.backend import SlurmBackend

__all__ = ["SlurmBackend"]
