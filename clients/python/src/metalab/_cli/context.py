"""Resolve the environment a command acts on and turn it into the gRPC spec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metalab._config.resolve import Environment
    from metalab.v1 import types_pb2


def resolve(
    env_name: str | None, overrides: Sequence[str] = (), *, need_project: bool = False
) -> Environment:
    """The environment to act on; ``need_project``: refuse when no `.metalab.toml` is found
    (services belong to a project: without one, `up` would start nameless services)."""
    from metalab._config.layers import CONFIG_NAME
    from metalab._config.resolve import load_project, resolve_environment
    from metalab.errors import ConfigError

    project = load_project()
    if need_project and project.files.base_path is None:
        from pathlib import Path

        raise ConfigError(
            f"no {CONFIG_NAME} found in {Path.cwd()} or any parent directory: cd into a "
            f"project, or create {CONFIG_NAME} there (README: 'Using it in a project')"
        )
    return resolve_environment(project, env_name, overrides)


def to_spec(environment: Environment) -> types_pb2.EnvironmentSpec:
    import json

    from metalab.v1 import types_pb2

    return types_pb2.EnvironmentSpec(
        project=environment.project,
        name=environment.name,
        type=environment.type,
        file_root=environment.file_root or "",
        project_dir=str(environment.project_dir),
        resolved_json=json.dumps(environment.as_document()),
    )
