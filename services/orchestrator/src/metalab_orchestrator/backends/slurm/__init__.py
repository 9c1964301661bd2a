"""The SLURM backend: services in one batch job (script, runner, poller, endpoint, backend).

``SlurmBackend`` is imported lazily: the job's own program imports ``endpoint`` from this
package and must not pay for the client side (pydantic models, the poller, asyncssh).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metalab_orchestrator.backends.slurm.backend import SlurmBackend

__all__ = ["SlurmBackend"]


def __getattr__(name: str) -> Any:
    if name == "SlurmBackend":
        from metalab_orchestrator.backends.slurm.backend import SlurmBackend

        return SlurmBackend
    raise AttributeError(name)
