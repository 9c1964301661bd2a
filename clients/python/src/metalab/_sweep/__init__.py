"""Executors: where runs happen (in-process, a local process pool, SLURM job arrays)."""

from metalab._sweep.config import (
    LocalExecutorConfig,
    SlurmExecutorConfig,
    executor_from_config,
)
from metalab._sweep.registry import executor_types, register_executor
from metalab._sweep.resolve import resolve_executor

__all__ = [
    "LocalExecutorConfig",
    "SlurmExecutorConfig",
    "executor_from_config",
    "executor_types",
    "register_executor",
    "resolve_executor",
]
