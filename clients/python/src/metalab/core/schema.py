"""Pydantic models of `.metalab.toml`: the one place that says which keys exist.

Importing this module costs ~0.1-0.3 s; the CLI's fast path only imports it when a config
document has not been validated before (see `metalab._config.validate`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

Port = Annotated[int, Field(ge=0, le=65535)]
Seconds = Annotated[float, Field(gt=0)]


def _one_item_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


_INTERFACE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


def _advertise(value: Any) -> Any:
    """An interface name (``ib0``) or a network (``10.1.0.0/16``; an address is a /32)."""
    if not isinstance(value, str):
        return value  # strict str: refused with the usual message
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        if not _INTERFACE.match(value):
            raise ValueError(
                f"{value!r} is neither an interface name (e.g. ib0) nor a network "
                "(e.g. 10.1.0.0/16)"
            ) from None
    return value


# Which of a compute node's addresses the services job advertises (backends/slurm/address.py).
Advertise = Annotated[str, BeforeValidator(_advertise)]

# `modules = "cuda/12"` means `modules = ["cuda/12"]` (upstream accepts both).
StrList = Annotated[list[str], BeforeValidator(_one_item_list)]
SbatchDirectives = dict[str, str | int]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


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
    image: str | None = None  # a container runtime's image (default metalab-postgres:latest)


class AtlasService(_Strict):
    port: Port | None = None
    start_timeout: Seconds = 30.0
    image: str | None = None  # a container runtime's image (default metalab:latest)


class ServicesSection(_Strict):
    postgres: PostgresService | None = None
    atlas: AtlasService | None = None


class _EnvironmentBase(_Strict):
    file_root: str | None = None
    services: ServicesSection | None = None


class LocalExecutor(_Strict):
    """``[environments.X.executor]`` of a local environment (upstream's LocalExecutorConfig)."""

    workers: Annotated[int, Field(ge=1)] | None = None


# Where a local environment's services run: native binaries, or containers of an engine.
LocalRuntime = Literal["auto", "native", "docker", "podman"]


class LocalEnvironment(_EnvironmentBase):
    type: Literal["local"]
    runtime: LocalRuntime = "auto"
    workers: Annotated[int, Field(ge=1)] | None = None
    executor: LocalExecutor | None = None


class _SlurmServicesJob(_Strict):
    """Resources of the SLURM job that holds the services: flat on the profile, or under
    ``[environments.X.services]`` (upstream's layout)."""

    partition: str | None = None
    time: str = "1:00:00"
    memory: str | None = None
    cpus: Annotated[int, Field(ge=1)] = 1
    gpus: Annotated[int, Field(ge=0)] = 0
    account: str | None = None
    qos: str | None = None
    sbatch_args: list[str] = Field(default_factory=list)
    modules: StrList = Field(default_factory=list)
    setup: StrList = Field(default_factory=list)
    conda_env: str | None = None
    advertise: Advertise | None = None


class _SlurmExecutorOnly(_Strict):
    """Executor settings with no meaning for the services job (upstream's SlurmExecutorConfig;
    ``mail_user``/``mail_type`` become ``extra_sbatch`` entries)."""

    max_concurrent: Annotated[int, Field(ge=1)] | None = None
    max_array_size: Annotated[int, Field(ge=1)] | None = None
    chunk_size: Annotated[int, Field(ge=1)] | None = None
    extra_sbatch: SbatchDirectives = Field(default_factory=dict)
    mail_user: str | None = None
    mail_type: str | None = None


class SlurmServicesTable(ServicesSection, _SlurmServicesJob):
    """``[environments.X.services]``: service declarations (tables) and services-job resources."""


class SlurmExecutor(_SlurmExecutorOnly):
    """``[environments.X.executor]`` of a SLURM environment: defaults for experiment jobs."""

    partition: str | None = None
    time: str | None = None
    memory: str | None = None
    cpus: Annotated[int, Field(ge=1)] | None = None
    gpus: Annotated[int, Field(ge=0)] | None = None
    modules: StrList = Field(default_factory=list)
    setup: StrList = Field(default_factory=list)
    conda_env: str | None = None


class SlurmEnvironment(_EnvironmentBase, _SlurmServicesJob, _SlurmExecutorOnly):
    type: Literal["slurm"]
    gateway: str | None = None
    user: str | None = None
    ssh_key: str | None = None
    tunnel: Literal["jump", "gateway"] = "jump"
    data_path: Literal["openssh", "asyncssh"] = "openssh"
    python: str | None = None
    queue_timeout: Seconds = 3600.0
    start_timeout: Seconds = 120.0
    services: SlurmServicesTable | None = None
    executor: SlurmExecutor | None = None


Environment = Annotated[LocalEnvironment | SlurmEnvironment, Field(discriminator="type")]

ENVIRONMENT_TYPES = ("local", "slurm")


class ProjectConfig(_Strict):
    project: ProjectSection = Field(default_factory=ProjectSection)
    services: ServicesSection = Field(default_factory=ServicesSection)
    environments: dict[str, Environment] = Field(default_factory=dict)
