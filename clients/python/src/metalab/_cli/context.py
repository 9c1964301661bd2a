"""Resolve the environment a command acts on and turn it into the gRPC spec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metalab._config.resolve import Environment
    from metalab.v1 import types_pb2


def resolve(env_name: str | None, overrides: Sequence[str] = ()) -> Environment:
    from metalab._config.resolve import load_project, resolve_environment

    return resolve_environment(load_project(), env_name, overrides)


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
