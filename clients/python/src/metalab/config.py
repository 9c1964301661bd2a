"""Project configuration (`.metalab.toml`) as upstream metalab's Python API.

The names and behaviour follow upstream's ``metalab.config``; finding, merging, validating and
resolving are done by `metalab._config`, the code the CLI uses, so `ProjectConfig.resolve` and
``metalab env show`` agree. Differences on purpose: documents are validated (an unknown key or
environment type raises `ConfigError`, a `ValueError`, naming file and key with a "did you
mean" hint), and ``executor_resources`` / ``services_resources`` also read the seed's flat
profile (its resource keys are defaults for both). Resolution reads the files only: ``--set``
flags and ``METALAB__*`` variables belong to the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metalab._config import layers
from metalab.errors import ConfigError

if TYPE_CHECKING:
    from metalab._config.layout import Split
    from metalab._config.resolve import Project

__all__ = [
    "CONFIG_FILENAME",
    "LOCAL_CONFIG_FILENAME",
    "EnvironmentProfile",
    "ProjectConfig",
    "ProjectInfo",
    "ResolvedConfig",
    "deep_merge",
    "find_config_file",
]

CONFIG_FILENAME = layers.CONFIG_NAME
LOCAL_CONFIG_FILENAME = layers.LOCAL_CONFIG_NAME


def find_config_file(start_dir: Path | None = None) -> Path | None:
    """The nearest `.metalab.toml` at or above ``start_dir`` (default: the cwd), or None."""
    return layers.find_config(start_dir or Path.cwd())


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A new dict: tables merge key by key, any other ``override`` value replaces."""
    return layers.deep_merge(base, override)


@dataclass(frozen=True)
class ProjectInfo:
    """The ``[project]`` table."""

    name: str
    default_env: str | None = None


@dataclass(frozen=True)
class EnvironmentProfile:
    """``[environments.NAME]`` as written: its ``type`` and every other key in ``config``."""

    name: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedConfig:
    """One environment with the base, profile and local layers merged.

    ``env_config`` is the merged profile as written (sub-tables kept, ``type`` and
    ``file_root`` taken out); ``file_root`` is as written too (not made absolute).
    """

    project: ProjectInfo
    env_name: str
    env_type: str
    env_config: dict[str, Any]
    services: dict[str, dict[str, Any]]
    file_root: str | None

    @property
    def services_resources(self) -> dict[str, Any]:
        """Scheduler resources of the services job (``[environments.X.services]`` or flat)."""
        return self._canonical().services_resources

    @property
    def executor_resources(self) -> dict[str, Any]:
        """Defaults for experiment jobs (``[environments.X.executor]``, over the flat keys)."""
        return self._canonical().executor

    def has_service(self, name: str) -> bool:
        """Whether service ``name`` is configured."""
        return name in self.services

    def get_service(self, name: str) -> dict[str, Any]:
        """The configuration of service ``name``; KeyError naming the available ones."""
        if name not in self.services:
            available = ", ".join(sorted(self.services)) or "(none)"
            raise KeyError(f"No service {name!r} in config. Available services: {available}")
        return self.services[name]

    def _canonical(self) -> Split:
        from metalab._config.layout import split

        return split(self.env_config, self.env_type)


@dataclass
class ProjectConfig:
    """The project's `.metalab.toml` (and `.metalab.local.toml`), validated.

    ``environments`` and ``services`` hold the base file's tables; local overrides apply when
    resolving.
    """

    project: ProjectInfo
    environments: dict[str, EnvironmentProfile]
    services: dict[str, dict[str, Any]]
    _local_overrides: dict[str, Any] = field(default_factory=dict, repr=False)
    _project: Project | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, start_dir: Path | None = None) -> ProjectConfig:
        """Find `.metalab.toml` from ``start_dir`` (default: the cwd) and load it.

        Raises FileNotFoundError when there is none, `ConfigError` when it is invalid.
        """
        files = layers.load_files(start_dir)
        if files.base_path is None:
            raise FileNotFoundError(
                f"Could not find {CONFIG_FILENAME} in {start_dir or Path.cwd()} "
                "or any parent directory"
            )
        return cls._from_files(files, start_dir)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], local_overrides: dict[str, Any] | None = None
    ) -> ProjectConfig:
        """Build from parsed documents (the base file's and the local override's)."""
        files = layers.ConfigFiles(None, None, dict(data), dict(local_overrides or {}))
        return cls._from_files(files, None)

    @classmethod
    def _from_files(cls, files: layers.ConfigFiles, start: Path | None) -> ProjectConfig:
        from metalab._config.resolve import project_from

        project = project_from(files, start)
        section = _table(files.base.get("project"))
        environments = {
            name: EnvironmentProfile(
                name,
                str(profile.get("type", "unknown")),
                {k: v for k, v in profile.items() if k != "type"},
            )
            for name, profile in _table(files.base.get("environments")).items()
            if isinstance(profile, Mapping)
        }
        return cls(
            project=ProjectInfo(str(section.get("name", "")), section.get("default_env")),
            environments=environments,
            services={k: dict(v) for k, v in _table(files.base.get("services")).items()},
            _local_overrides=files.local,
            _project=project,
        )

    def _loaded(self) -> Project:
        """Our resolver's view, also for a ProjectConfig built field by field."""
        if self._project is not None:
            return self._project
        from metalab._config.resolve import project_from

        base: dict[str, Any] = {
            "project": {
                k: v
                for k, v in (("name", self.project.name), ("default_env", self.project.default_env))
                if v
            },
            "services": self.services,
            "environments": {n: {"type": p.type, **p.config} for n, p in self.environments.items()},
        }
        project = project_from(layers.ConfigFiles(None, None, base, self._local_overrides))
        self._project = project
        return project

    def resolve(self, env_name: str | None = None) -> ResolvedConfig:
        """Resolve ``env_name`` (default: ``default_env``, local override included).

        Raises `ConfigError` (a ValueError) when no environment is given and there is no
        default, or when the environment does not exist.
        """
        from metalab._config.resolve import build_environment

        project = self._loaded()
        section = _table(project.document.get("project"))
        name = env_name or project.default_env
        available = ", ".join(sorted(project.environments)) or "(none)"
        if name is None:
            raise ConfigError(
                "No environment specified and no default_env set in [project]. "
                f"Available environments: {available}",
                file=_path(project.files.base_path),
                key="project.default_env",
            )
        if name not in project.environments:
            problem = f"Unknown environment {name!r}. Available environments: {available}"
            if env_name is None:
                key = "project.default_env"
                raise ConfigError(problem, file=project.locate(key), key=key)
            raise ConfigError(problem, file=_path(project.files.base_path))
        environment = build_environment(project, name, environ={})
        profile = _table(project.files.base.get("environments")).get(name, {})
        local = _table(project.files.local.get("environments")).get(name, {})
        env_config = layers.deep_merge(_table(profile), _table(local))
        env_config.pop("type", None)
        file_root = env_config.pop("file_root", None)
        return ResolvedConfig(
            project=ProjectInfo(str(section.get("name", "")), project.default_env),
            env_name=name,
            env_type=environment.type,
            env_config=env_config,
            services=environment.services,
            file_root=file_root if isinstance(file_root, str) else None,
        )

    def list_environments(self) -> list[str]:
        """The names of the base file's environment profiles, sorted."""
        return sorted(self.environments)


def _table(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _path(path: Path | None) -> str | None:
    return str(path) if path else None
