"""The project's earlier experiment dialect, kept private while its features (workspaces,
archive folders, experiment YAML) move onto the upstream-compatible API (issue 13).

Nothing public imports this module; its tests do, as ``from metalab._sdk import legacy``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from metalab.errors import ConfigError, MetalabError, SchedulerError, StoreError

if TYPE_CHECKING:
    from metalab._runstore import reindex
    from metalab._runstore.base import StoreConfig
    from metalab._runstore.file import FileStoreConfig
    from metalab._runstore.pgconfig import PostgresStoreConfig
    from metalab._sdk.capture import Capture
    from metalab._sdk.experiment import Experiment
    from metalab._sdk.params import (
        choice,
        grid,
        loguniform,
        param_list,
        randint,
        random,
        uniform,
    )
    from metalab._sdk.result import Result
    from metalab._sdk.run import run
    from metalab._sdk.yaml_config import ExperimentConfig, load_experiment_config
    from metalab._sweep.config import (
        LocalExecutorConfig,
        SlurmExecutorConfig,
        executor_from_config,
    )
    from metalab._sweep.registry import register_executor
    from metalab._sweep.resolve import resolve_executor

__all__ = [
    "Capture",
    "ConfigError",
    "Experiment",
    "ExperimentConfig",
    "FileStoreConfig",
    "LocalExecutorConfig",
    "MetalabError",
    "PostgresStoreConfig",
    "Result",
    "SchedulerError",
    "SlurmExecutorConfig",
    "StoreConfig",
    "StoreError",
    "choice",
    "executor_from_config",
    "grid",
    "load_experiment_config",
    "loguniform",
    "param_list",
    "randint",
    "random",
    "register_executor",
    "reindex",
    "resolve_executor",
    "run",
    "uniform",
]

_LAZY: dict[str, str] = {
    "Capture": "metalab._sdk.capture",
    "Experiment": "metalab._sdk.experiment",
    "ExperimentConfig": "metalab._sdk.yaml_config",
    "FileStoreConfig": "metalab._runstore.file",
    "LocalExecutorConfig": "metalab._sweep.config",
    "PostgresStoreConfig": "metalab._runstore.pgconfig",
    "Result": "metalab._sdk.result",
    "SlurmExecutorConfig": "metalab._sweep.config",
    "StoreConfig": "metalab._runstore.base",
    "choice": "metalab._sdk.params",
    "executor_from_config": "metalab._sweep.config",
    "grid": "metalab._sdk.params",
    "load_experiment_config": "metalab._sdk.yaml_config",
    "loguniform": "metalab._sdk.params",
    "param_list": "metalab._sdk.params",
    "randint": "metalab._sdk.params",
    "random": "metalab._sdk.params",
    "register_executor": "metalab._sweep.registry",
    "reindex": "metalab._runstore",
    "resolve_executor": "metalab._sweep.resolve",
    "run": "metalab._sdk.run",
    "uniform": "metalab._sdk.params",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'metalab._sdk.legacy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
