"""`resolve_executor(platform, overrides)`: `.metalab.toml` defaults + overrides → an executor."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metalab._sweep.config import executor_from_config

log = logging.getLogger("metalab._sweep")


def profile_defaults(platform: str, start_dir: Path | None = None) -> tuple[dict[str, Any], str]:
    """The executor fields set by the environment profile matching ``platform``.

    The profile is the environment named ``platform``, else the default environment when its
    type is ``platform``, else the first environment of that type. Infrastructure-only keys of
    the profile (gateway, ssh_key, ...) are not executor fields and are left out.
    Returns ``(defaults, where)``; ``where`` says which profile (or "no .metalab.toml").
    """
    from metalab._config.resolve import load_project, resolve_environment
    from metalab._sweep.registry import get_executor_type

    entry = get_executor_type(platform)
    project = load_project(start_dir)
    if project.files.base_path is None:
        return {}, "no .metalab.toml"
    envs = project.environments
    name: str | None = None
    if platform in envs:
        name = platform
    elif project.default_env in envs and envs[project.default_env].get("type") == platform:
        name = project.default_env
    else:
        name = next((n for n, e in envs.items() if e.get("type") == platform), None)
    if name is None:
        return {}, f"{project.files.base_path} (no {platform!r} environment)"
    env = resolve_environment(project, name)
    if env.type != platform and name != platform:
        return {}, f"{project.files.base_path} (no {platform!r} environment)"
    fields = {f.name for f in dataclasses.fields(entry.config_cls)}
    defaults = {k: v for k, v in {**env.settings, **env.executor}.items() if k in fields}
    return defaults, f"{project.files.base_path} [environments.{name}]"


def resolve_executor(
    platform: str, overrides: Mapping[str, Any] | None = None, start_dir: Path | None = None
) -> Any:
    """Create a ``platform`` executor from the project's profile defaults and ``overrides``.

    Works without any `.metalab.toml` (only ``overrides`` are used). Returns None for the
    in-process case (``local`` with one worker).
    """
    from metalab._config.layers import deep_merge

    defaults, where = profile_defaults(platform, start_dir)
    merged = deep_merge(defaults, dict(overrides or {}))
    log.debug("executor %s: defaults from %s, merged settings %s", platform, where, merged)
    return executor_from_config(platform, merged)
