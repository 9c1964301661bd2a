"""The experiment API's top level: upstream metalab's ``metalab.__all__``, loaded lazily.

``metalab/__init__.py`` switches to this API with::

    import sys
    from typing import TYPE_CHECKING

    from metalab._api import __all__ as __all__
    from metalab._api import __getattr__ as __getattr__
    from metalab._api import __version__ as __version__
    from metalab._api import install

    if TYPE_CHECKING:
        from metalab._api import *  # noqa: F403  (type checkers see every name's type)

    install(sys.modules[__name__])

Nothing heavy is imported until a name is first used: each name maps to the module
that defines it, imported by ``__getattr__`` on first access. Two public functions
share their name with a submodule (``metalab.seeds`` and ``metalab.operation``);
``install`` keeps importing those submodules from replacing the functions on the package.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metalab._ids import DirPath, FilePath, Fingerprintable, dir_hash, file_hash
    from metalab.capture import Capture
    from metalab.context import ContextSpec, FrozenContext, context_spec
    from metalab.events import Event, EventCallback, EventKind
    from metalab.executor import (
        Executor,
        LocalRunHandle,
        ProcessExecutor,
        RunHandle,
        RunPayload,
        RunStatus,
        ThreadExecutor,
    )
    from metalab.executor.config import resolve_executor
    from metalab.executor.slurm import SlurmConfig, SlurmExecutor, SlurmRunHandle
    from metalab.experiment import Experiment
    from metalab.experiment_config import ExperimentConfig as ExperimentConfig
    from metalab.experiment_config import load_experiment_config as load_experiment_config
    from metalab.operation import OperationWrapper, operation
    from metalab.params import (
        GridSource,
        ManualSource,
        ParamCase,
        ParamResolver,
        ParamSource,
        RandomSource,
        ResolvedSource,
        choice,
        grid,
        loguniform,
        loguniform_int,
        manual,
        randint,
        random,
        uniform,
        with_resolver,
    )
    from metalab.progress import (
        MetricDisplay,
        Progress,
        ProgressTracker,
        SimpleProgressTracker,
        create_progress_tracker,
    )
    from metalab.progress.display import display_results
    from metalab.result import ExperimentInfo, Results, Run
    from metalab.runner import load_results, reconnect, run
    from metalab.runtime import CancellationToken, CancelledError, Runtime
    from metalab.seeds import SeedBundle, SeedPlan, seeds
    from metalab.store import FileStore, FileStoreConfig, Store, StoreConfig
    from metalab.store.postgres import PostgresStoreConfig
    from metalab.types import ArtifactDescriptor, Provenance, RunRecord, Status

__version__ = "0.1.0"

_MODULE_OF: dict[str, str] = {
    # upstream's ``__all__`` (after ``__version__``), in its order
    "RunRecord": "metalab.types",
    "ArtifactDescriptor": "metalab.types",
    "Status": "metalab.types",
    "Provenance": "metalab.types",
    "Event": "metalab.events",
    "EventKind": "metalab.events",
    "EventCallback": "metalab.events",
    "SeedBundle": "metalab.seeds",
    "SeedPlan": "metalab.seeds",
    "seeds": "metalab.seeds",
    "Capture": "metalab.capture",
    "Runtime": "metalab.runtime",
    "CancellationToken": "metalab.runtime",
    "CancelledError": "metalab.runtime",
    "operation": "metalab.operation",
    "OperationWrapper": "metalab.operation",
    "ParamSource": "metalab.params",
    "ParamCase": "metalab.params",
    "ParamResolver": "metalab.params",
    "GridSource": "metalab.params",
    "RandomSource": "metalab.params",
    "ManualSource": "metalab.params",
    "ResolvedSource": "metalab.params",
    "grid": "metalab.params",
    "random": "metalab.params",
    "manual": "metalab.params",
    "with_resolver": "metalab.params",
    "uniform": "metalab.params",
    "loguniform": "metalab.params",
    "loguniform_int": "metalab.params",
    "randint": "metalab.params",
    "choice": "metalab.params",
    "ContextSpec": "metalab.context",
    "FrozenContext": "metalab.context",
    "context_spec": "metalab.context",
    "Experiment": "metalab.experiment",
    "ExperimentInfo": "metalab.result",
    "Results": "metalab.result",
    "Run": "metalab.result",
    "run": "metalab.runner",
    "load_results": "metalab.runner",
    "reconnect": "metalab.runner",
    "Store": "metalab.store",
    "StoreConfig": "metalab.store",
    "FileStore": "metalab.store",
    "FileStoreConfig": "metalab.store",
    "PostgresStoreConfig": "metalab.store.postgres",
    "Executor": "metalab.executor",
    "ThreadExecutor": "metalab.executor",
    "ProcessExecutor": "metalab.executor",
    "RunPayload": "metalab.executor",
    "RunHandle": "metalab.executor",
    "RunStatus": "metalab.executor",
    "LocalRunHandle": "metalab.executor",
    "SlurmExecutor": "metalab.executor.slurm",
    "SlurmConfig": "metalab.executor.slurm",
    "SlurmRunHandle": "metalab.executor.slurm",
    "resolve_executor": "metalab.executor.config",
    "MetricDisplay": "metalab.progress",
    "Progress": "metalab.progress",
    "ProgressTracker": "metalab.progress",
    "SimpleProgressTracker": "metalab.progress",
    "create_progress_tracker": "metalab.progress",
    "display_results": "metalab.progress.display",
    "file_hash": "metalab._ids",
    "dir_hash": "metalab._ids",
    "FilePath": "metalab._ids",
    "DirPath": "metalab._ids",
    "Fingerprintable": "metalab._ids",
    # this project's additions, outside ``__all__`` (``from metalab import *`` stays
    # upstream's): experiment YAML files
    "ExperimentConfig": "metalab.experiment_config",
    "load_experiment_config": "metalab.experiment_config",
}

__all__ = [
    "__version__",
    "RunRecord",
    "ArtifactDescriptor",
    "Status",
    "Provenance",
    "Event",
    "EventKind",
    "EventCallback",
    "SeedBundle",
    "SeedPlan",
    "seeds",
    "Capture",
    "Runtime",
    "CancellationToken",
    "CancelledError",
    "operation",
    "OperationWrapper",
    "ParamSource",
    "ParamCase",
    "ParamResolver",
    "GridSource",
    "RandomSource",
    "ManualSource",
    "ResolvedSource",
    "grid",
    "random",
    "manual",
    "with_resolver",
    "uniform",
    "loguniform",
    "loguniform_int",
    "randint",
    "choice",
    "ContextSpec",
    "FrozenContext",
    "context_spec",
    "Experiment",
    "ExperimentInfo",
    "Results",
    "Run",
    "run",
    "load_results",
    "reconnect",
    "Store",
    "StoreConfig",
    "FileStore",
    "FileStoreConfig",
    "PostgresStoreConfig",
    "Executor",
    "ThreadExecutor",
    "ProcessExecutor",
    "RunPayload",
    "RunHandle",
    "RunStatus",
    "LocalRunHandle",
    "SlurmExecutor",
    "SlurmConfig",
    "SlurmRunHandle",
    "resolve_executor",
    "MetricDisplay",
    "Progress",
    "ProgressTracker",
    "SimpleProgressTracker",
    "create_progress_tracker",
    "display_results",
    "file_hash",
    "dir_hash",
    "FilePath",
    "DirPath",
    "Fingerprintable",
]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` and return the object."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'metalab' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    """This module's names and the lazy ones."""
    return sorted(set(globals()) | set(__all__))


_FUNCTIONS_NAMED_LIKE_SUBMODULES = ("seeds", "operation")


class _Package(ModuleType):
    """The ``metalab`` package: binding a submodule named like a public function binds
    the function instead (as ``from metalab.seeds import seeds`` would); ``dir()`` lists
    the lazy names too."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTIONS_NAMED_LIKE_SUBMODULES and isinstance(value, ModuleType):
            value = getattr(value, name)
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(self.__dict__) | set(__all__))


def install(package: ModuleType) -> None:
    """Make ``package`` (the ``metalab`` package module) keep its public functions."""
    package.__class__ = _Package
    for name in _FUNCTIONS_NAMED_LIKE_SUBMODULES:
        current = package.__dict__.get(name)
        if isinstance(current, ModuleType):
            setattr(package, name, current)
