"""`SlurmExecutorConfig`: executor type ``slurm`` from a flat dict (e.g. YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from metalab.executor.config import ExecutorConfig

if TYPE_CHECKING:
    from metalab.executor.handle import RunHandle

_LIST_FIELDS = ("modules", "setup")
_SBATCH_SHORTCUTS = ("mail_user", "mail_type")


@dataclass
class SlurmExecutorConfig(ExecutorConfig):
    """The fields of :class:`~metalab.executor.slurm.SlurmConfig`, parsed leniently.

    ``from_dict`` moves ``mail_user``/``mail_type`` into ``extra_sbatch``, accepts a
    single string for ``modules``/``setup``, and ignores unknown keys.
    """

    executor_type: ClassVar[str] = "slurm"

    partition: str = "default"
    time: str = "1:00:00"
    cpus: int = 1
    memory: str = "4G"
    gpus: int = 0
    max_concurrent: int | None = None
    max_array_size: int = 10000
    chunk_size: int = 1
    modules: list[str] = field(default_factory=list)
    conda_env: str | None = None
    setup: list[str] = field(default_factory=list)
    extra_sbatch: dict[str, str] = field(default_factory=dict)

    @classmethod
    def handle_class(cls) -> type[RunHandle] | None:
        """``SlurmRunHandle`` (SLURM runs can be reattached to)."""
        from metalab.executor.slurm import SlurmRunHandle

        return SlurmRunHandle

    def create(self) -> Any:
        """A ``SlurmExecutor`` with these settings."""
        from metalab.executor.slurm import SlurmConfig, SlurmExecutor

        settings = {f.name: getattr(self, f.name) for f in fields(self)}
        return SlurmExecutor(SlurmConfig(**settings))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SlurmExecutorConfig:
        """Parse a config dict (see the class docstring for the conveniences)."""
        values = dict(d)
        extra = dict(values.pop("extra_sbatch", {}) or {})
        for key in _SBATCH_SHORTCUTS:
            if key in values:
                extra[key] = values.pop(key)
        for key in _LIST_FIELDS:
            if isinstance(values.get(key), str):
                values[key] = [values[key]]
        known = {f.name for f in fields(cls)} - {"extra_sbatch"}
        return cls(**{k: v for k, v in values.items() if k in known}, extra_sbatch=extra)
