"""The resolved environment the client sends, parsed into typed models."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from metalab.core.errors import ConfigError
from metalab.core.schema import (
    AtlasService,
    Environment,
    LocalEnvironment,
    PostgresService,
    ServicesSection,
    SlurmEnvironment,
)
from metalab.v1 import types_pb2
from metalab_registry.store import BundleKey

_ENVIRONMENT = TypeAdapter(Environment)


@dataclass(frozen=True)
class Spec:
    """One environment to provision, validated."""

    project: str
    name: str
    project_dir: Path
    environment: LocalEnvironment | SlurmEnvironment

    @property
    def type(self) -> str:
        return self.environment.type

    @property
    def file_root(self) -> str | None:
        return self.environment.file_root

    @property
    def services(self) -> ServicesSection:
        return self.environment.services or ServicesSection()

    @property
    def postgres(self) -> PostgresService | None:
        return self.services.postgres

    @property
    def atlas(self) -> AtlasService | None:
        """Atlas runs when declared, and whenever there is a store to show (seed rule 4)."""
        if self.services.atlas is not None:
            return self.services.atlas
        if self.postgres is not None or self.file_root:
            return AtlasService()
        return None

    @property
    def key(self) -> BundleKey:
        return BundleKey(self.project, self.name, self.file_root or "")

    @property
    def services_dir(self) -> Path:
        """The directory holding bundle.json, and beside it the services' data and run dirs."""
        return self.key.path.parent


def parse_spec(message: types_pb2.EnvironmentSpec) -> Spec:
    """Validate the client's resolved document; a bad one is the client's error."""
    if not message.project or not message.name:
        raise ConfigError("environment spec needs a project and a name")
    try:
        document = json.loads(message.resolved_json or "{}")
        environment = _ENVIRONMENT.validate_python(document)
    except (json.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[:3]
        raise ConfigError(f"invalid environment spec: {' '.join(first)}") from exc
    spec = Spec(message.project, message.name, Path(message.project_dir or "."), environment)
    check_shared(spec, os.environ.get("METALAB_SHARED_ROOT", ""))
    return spec


def check_shared(spec: Spec, shared_root: str) -> None:
    """A server in a container sees only ``shared_root`` of its clients' filesystem: the
    bundle and the services' data must live under it, at the same path on both sides."""
    if not shared_root:
        return
    where = Path(os.path.normpath(spec.services_dir.absolute()))
    if not where.is_relative_to(os.path.normpath(shared_root)):
        raise ConfigError(
            f"{where} is outside {shared_root}, the only directory this server shares with "
            "its clients; set a file_root under it",
            key=f"environments.{spec.name}.file_root",
        )
