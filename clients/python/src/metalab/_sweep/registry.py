"""The executor plugin registry: a type name → its config class and factory.

Third-party types call `register_executor` (or declare an entry point in the
``metalab.executors`` group pointing at a zero-argument function that registers them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from metalab._sweep.config import LocalExecutorConfig, SlurmExecutorConfig, closest
from metalab.errors import ConfigError

ENTRY_POINT_GROUP = "metalab.executors"


@dataclass(frozen=True)
class ExecutorType:
    name: str
    config_cls: type[Any]
    factory: Callable[[Any], Any]


_REGISTRY: dict[str, ExecutorType] = {}
_LOCK = threading.Lock()
_entry_points_loaded = False


def register_executor(
    name: str, config_cls: type[Any], factory: Callable[[Any], Any], *, replace: bool = False
) -> None:
    """Make ``name`` usable in `executor_from_config`, `resolve_executor` and experiment YAML."""
    with _LOCK:
        if name in _REGISTRY and not replace:
            raise ConfigError(f"executor type {name!r} is already registered")
        _REGISTRY[name] = ExecutorType(name, config_cls, factory)


def unregister_executor(name: str) -> None:
    with _LOCK:
        _REGISTRY.pop(name, None)


def _local_factory(config: LocalExecutorConfig) -> Any:
    if config.workers == 1:
        return None
    from metalab._sweep.local import ProcessExecutor

    return ProcessExecutor(config)


def _slurm_factory(config: SlurmExecutorConfig) -> Any:
    from metalab._sweep.slurm import SlurmExecutor

    return SlurmExecutor(config)


register_executor("local", LocalExecutorConfig, _local_factory)
register_executor("slurm", SlurmExecutorConfig, _slurm_factory)


def _load_entry_points() -> None:
    """Load plugin entry points once; a plugin that fails to load is an error, not a shrug."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            continue
        try:
            ep.load()()
        except Exception as exc:  # noqa: BLE001 - reported with the plugin's name, not hidden
            raise ConfigError(
                f"executor plugin {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc


def executor_types() -> list[str]:
    _load_entry_points()
    return sorted(_REGISTRY)


def get_executor_type(name: str) -> ExecutorType:
    if name not in _REGISTRY:
        _load_entry_points()
    if name not in _REGISTRY:
        hint = closest(str(name), sorted(_REGISTRY))
        suggestion = f" (did you mean {hint!r}?)" if hint else ""
        raise ConfigError(
            f"unknown executor type {name!r}{suggestion}; known types: "
            f"{', '.join(sorted(_REGISTRY))}",
            key="executor.type",
        )
    return _REGISTRY[name]
