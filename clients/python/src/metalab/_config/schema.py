"""Pydantic models of `.metalab.toml`: the one place that says which keys exist.

Importing this module costs ~0.1-0.3 s; the CLI's fast path only imports it when a config
document has not been validated before (see `metalab._config.validate`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

Port = Annotated[int, Field(ge=0, le=65535)]
Seconds = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProjectSection(_Strict):
    name: str | None = None
    default_env: str | None = None


class PostgresService(_Strict):
    auth_method: Literal["scram-sha-256", "md5", "trust", "password"] = "scram-sha-256"
    database: str = Field(default="metalab", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    user: str = Field(default="metalab", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    port: Port | None = None
    password: SecretStr | None = None
    run_as: str | None = None
    start_timeout: Seconds = 30.0


class AtlasService(_Strict):
    port: Port | None = None
    start_timeout: Seconds = 30.0


class ServicesSection(_Strict):
    postgres: PostgresService | None = None
    atlas: AtlasService | None = None


class _EnvironmentBase(_Strict):
    file_root: str | None = None
    services: ServicesSection | None = None


class LocalEnvironment(_EnvironmentBase):
    type: Literal["local"]
    workers: Annotated[int, Field(ge=1)] | None = None


class SlurmEnvironment(_EnvironmentBase):
    type: Literal["slurm"]
    gateway: str | None = None
    user: str | None = None
    ssh_key: str | None = None
    tunnel: Literal["jump", "gateway"] = "jump"
    data_path: Literal["openssh", "asyncssh"] = "openssh"
    partition: str | None = None
    time: str = "1:00:00"
    memory: str | None = None
    cpus: Annotated[int, Field(ge=1)] = 1
    gpus: Annotated[int, Field(ge=0)] = 0
    account: str | None = None
    qos: str | None = None
    sbatch_args: list[str] = Field(default_factory=list)
    modules: list[str] = Field(default_factory=list)
    setup: list[str] = Field(default_factory=list)
    conda_env: str | None = None
    python: str | None = None
    max_concurrent: Annotated[int, Field(ge=1)] | None = None
    queue_timeout: Seconds = 3600.0
    start_timeout: Seconds = 120.0


Environment = Annotated[LocalEnvironment | SlurmEnvironment, Field(discriminator="type")]

ENVIRONMENT_TYPES = ("local", "slurm")


class ProjectConfig(_Strict):
    project: ProjectSection = Field(default_factory=ProjectSection)
    services: ServicesSection = Field(default_factory=ServicesSection)
    environments: dict[str, Environment] = Field(default_factory=dict)
