"""Executor configs: build an executor from a type name and a plain dict (e.g. YAML).

Types ``local`` and ``slurm`` are built in; other packages add types through the
``metalab.executors`` entry-point group (name -> :class:`ExecutorConfig` subclass).
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from metalab.executor.base import Executor
    from metalab.executor.handle import RunHandle

logger = logging.getLogger(__name__)

_BUILT_IN: dict[str, str] = {
    "local": "metalab.executor.local_config:LocalExecutorConfig",
    "slurm": "metalab.executor.slurm_config:SlurmExecutorConfig",
}


class ExecutorConfigRegistry:
    """Executor type name -> config class (built-ins plus entry points, loaded once)."""

    _configs: dict[str, type[ExecutorConfig]] = {}
    _loaded: bool = False

    @classmethod
    def _ensure_loaded(cls) -> None:
        if cls._loaded:
            return
        cls._loaded = True
        from importlib.metadata import entry_points

        for name, ref in _BUILT_IN.items():
            module_name, _, attr = ref.partition(":")
            cls._configs.setdefault(name, getattr(importlib.import_module(module_name), attr))
        for entry in entry_points(group="metalab.executors"):
            try:
                cls._configs[entry.name] = entry.load()
            except Exception:
                logger.debug("Failed to load executor entry point %r", entry.name, exc_info=True)

    @classmethod
    def get(cls, name: str) -> type[ExecutorConfig] | None:
        """The config class of executor type ``name``, or ``None``."""
        cls._ensure_loaded()
        return cls._configs.get(name)

    @classmethod
    def types(cls) -> list[str]:
        """Every known executor type name."""
        cls._ensure_loaded()
        return list(cls._configs)


@dataclass
class ExecutorConfig(ABC):
    """Base of executor configs: ``executor_type``, ``from_dict`` and ``create``.

    Override :meth:`handle_class` when another session can reattach to the executor's
    runs (``metalab.reconnect``).
    """

    executor_type: ClassVar[str] = ""

    @abstractmethod
    def create(self) -> Executor | None:
        """The executor (``None`` means run sequentially in this process)."""

    @classmethod
    @abstractmethod
    def from_dict(cls, d: dict[str, Any]) -> ExecutorConfig:
        """Parse a config dict (e.g. a YAML section)."""

    @classmethod
    def handle_class(cls) -> type[RunHandle] | None:
        """The handle class ``metalab.reconnect`` uses for this type (default: none)."""
        return None


def executor_from_config(executor_type: str, config: dict[str, Any] | None = None) -> Any:
    """The executor (or ``None`` for sequential) of ``executor_type`` configured by ``config``.

    Raises:
        ValueError: if ``executor_type`` is not a known type.
    """
    config_class = ExecutorConfigRegistry.get(executor_type)
    if config_class is None:
        raise ValueError(
            f"Unknown executor type: {executor_type!r}. Available: {ExecutorConfigRegistry.types()}"
        )
    return config_class.from_dict(config or {}).create()


def resolve_executor(platform: str, overrides: dict[str, Any] | None = None) -> Any:
    """The executor of type ``platform``: project defaults merged with ``overrides``.

    Defaults are the settings of the ``.metalab.toml`` environment profile for
    ``platform`` (the environment named ``platform``, else the default environment if
    it has that type, else the first environment of that type) that are fields of the
    platform's config class. Without a project file, ``overrides`` alone configure it.

    Raises:
        ValueError: if ``platform`` is not a known executor type.
    """
    config_class = ExecutorConfigRegistry.get(platform)
    defaults = _project_defaults(platform, config_class) if config_class is not None else {}
    return executor_from_config(platform, {**defaults, **(overrides or {})})


def _project_defaults(platform: str, config_class: type[ExecutorConfig]) -> dict[str, Any]:
    from metalab._config.resolve import load_project, resolve_environment

    project = load_project()
    if project.files.base_path is None:
        logger.debug("No .metalab.toml found; using overrides only")
        return {}
    environments = project.environments
    if platform in environments:
        name: str | None = platform
    elif (default := project.default_env) and environments.get(default, {}).get("type") == platform:
        name = default
    else:
        name = next((n for n, e in environments.items() if e.get("type") == platform), None)
    if name is None:
        logger.debug(
            "No %r environment in %s; using overrides only", platform, project.files.base_path
        )
        return {}
    settings = resolve_environment(project, name).settings
    known = {f.name for f in fields(config_class)}
    defaults = {k: v for k, v in settings.items() if k in known}
    logger.info(
        "Loaded executor defaults from .metalab.toml [%s] (%d settings)", name, len(defaults)
    )
    return defaults
