"""Executors: where an experiment's runs execute, and handles to follow them.

``ThreadExecutor`` and ``ProcessExecutor`` run on this machine, ``SlurmExecutor`` on a
SLURM cluster (loaded on first use). ``executor_from_config`` builds any of them from a
type name and a plain dict.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from metalab.executor.base import Executor
from metalab.executor.config import (
    ExecutorConfig,
    ExecutorConfigRegistry,
    executor_from_config,
    resolve_executor,
)
from metalab.executor.handle import LocalRunHandle, RunHandle, RunStatus
from metalab.executor.local_config import LocalExecutorConfig
from metalab.executor.payload import RunPayload
from metalab.executor.process import ProcessExecutor
from metalab.executor.registry import HandleRegistry
from metalab.executor.thread import ThreadExecutor

if TYPE_CHECKING:
    from metalab.executor.slurm import SlurmConfig, SlurmExecutor, SlurmRunHandle
    from metalab.executor.slurm_config import SlurmExecutorConfig

_LAZY = {
    "SlurmExecutor": "metalab.executor.slurm",
    "SlurmConfig": "metalab.executor.slurm",
    "SlurmRunHandle": "metalab.executor.slurm",
    "SlurmExecutorConfig": "metalab.executor.slurm_config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Executor",
    "ExecutorConfig",
    "ExecutorConfigRegistry",
    "executor_from_config",
    "resolve_executor",
    "HandleRegistry",
    "LocalExecutorConfig",
    "RunPayload",
    "RunHandle",
    "RunStatus",
    "LocalRunHandle",
    "ThreadExecutor",
    "ProcessExecutor",
    "SlurmExecutor",
    "SlurmExecutorConfig",
    "SlurmConfig",
    "SlurmRunHandle",
]
