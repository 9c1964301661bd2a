"""One environment, two spellings: the seed's flat profile and upstream's sub-tables.

Upstream metalab splits a SLURM profile into ``[environments.X.services]`` (the allocation of
the services job) and ``[environments.X.executor]`` (defaults for experiment jobs); the seed
writes one flat profile whose resource keys serve both. `split` turns either spelling, or a
mix, into one canonical form:

* ``settings``: identity keys and the services job's resources, flat (what the orchestrator
  reads);
* ``services``: service declarations (tables such as ``postgres``);
* ``executor``: defaults for experiment jobs.

Rules: a table-valued key under ``services`` declares a service, any other key there is a
services-job resource. A flat resource key is a default for both the services job and the
executor; the ``services`` and ``executor`` tables override it for their consumer. Flat keys
only executors use (``chunk_size``…) go to the executor alone. ``mail_user``/``mail_type`` become
``extra_sbatch`` entries and a single string for ``modules``/``setup`` becomes a one-item list.

Pure dict work, no pydantic: it runs on the CLI's fast path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from metalab._config.layers import Origins, deep_merge, nest

# Resources of the SLURM job that holds the services (flat on a profile).
SERVICE_JOB_KEYS = frozenset(
    {
        "partition",
        "time",
        "memory",
        "cpus",
        "gpus",
        "account",
        "qos",
        "sbatch_args",
        "modules",
        "setup",
        "conda_env",
        "advertise",
    }
)
# Flat keys that are also executor defaults, and those only executors use.
SHARED_SLURM_KEYS = frozenset(
    {"partition", "time", "memory", "cpus", "gpus", "modules", "setup", "conda_env"}
)
EXECUTOR_ONLY_KEYS = {
    "slurm": frozenset(
        {"max_concurrent", "max_array_size", "chunk_size", "extra_sbatch", "mail_user", "mail_type"}
    ),
    "local": frozenset({"workers"}),
}
MAIL_KEYS = frozenset({"mail_user", "mail_type"})
LIST_KEYS = ("modules", "setup")

_FLAT, _TABLE = 1, 2  # a sub-table beats the flat key it overrides


class Split(NamedTuple):
    """An environment document in canonical form, with where each leaf came from."""

    settings: dict[str, Any]
    services: dict[str, dict[str, Any]]
    executor: dict[str, Any]
    origins: Origins
    sources: dict[str, str]  # canonical key → raw key, if moved

    @property
    def services_resources(self) -> dict[str, Any]:
        """The services job's resources that are set."""
        return {k: v for k, v in self.settings.items() if k in SERVICE_JOB_KEYS}


def split(document: Mapping[str, Any], env_type: str, origins: Origins | None = None) -> Split:
    """Canonical form of ``document`` (an environment without ``type`` and ``file_root``).

    ``origins`` maps the raw document's dotted leaves to their layer; the result maps the
    canonical leaves to the same layers, and ``sources`` names the raw key of every moved leaf.
    """
    origins = origins or {}
    placed: list[tuple[int, str, str, Any]] = []  # (priority, canonical key, raw key, value)
    for raw, value in _leaves(document):
        for priority, target in _targets(raw, document, env_type):
            placed.append((priority, target, raw, value))
    built: dict[str, Any] = {}
    canonical_origins: Origins = {}
    sources: dict[str, str] = {}
    for _priority, target, raw, value in sorted(placed, key=lambda item: item[0]):
        built = deep_merge(built, nest(target, value))
        for key in [k for k in canonical_origins if k == target or k.startswith(target + ".")]:
            del canonical_origins[key]
            sources.pop(key, None)
        if raw in origins:
            canonical_origins[target] = origins[raw]
        if raw != target:
            sources[target] = raw
    services = built.pop("services", {})
    executor = _executor_form(built.pop("executor", {}))
    for key in LIST_KEYS:
        if isinstance(built.get(key), str):
            built[key] = [built[key]]
    return Split(built, services, executor, canonical_origins, sources)


def flat_executor(settings: Mapping[str, Any], env_type: str) -> dict[str, Any]:
    """The executor defaults that flat ``settings`` alone imply."""
    shared = SHARED_SLURM_KEYS if env_type == "slurm" else frozenset()
    return {k: v for k, v in settings.items() if k in shared}


def _leaves(document: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted leaves; an empty table is a leaf (``[services.postgres]`` alone declares it)."""
    for key, value in document.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, dotted + ".")
        else:
            yield dotted, value


def _targets(raw: str, document: Mapping[str, Any], env_type: str) -> list[tuple[int, str]]:
    """Where the raw leaf ``raw`` goes in canonical form, and with which priority."""
    head, _, rest = raw.partition(".")
    executor_only = EXECUTOR_ONLY_KEYS.get(env_type, frozenset())
    if head == "services" and rest:
        name = rest.partition(".")[0]
        table = document.get("services")
        if isinstance(table, Mapping) and isinstance(table.get(name), Mapping):
            return [(_FLAT, raw)]  # a service declaration
        return [(_TABLE, rest)]  # a services-job resource
    if head == "executor" and rest:
        return [(_TABLE, _executor_key(rest))]
    if head in executor_only:
        return [(_FLAT, _executor_key(raw))]
    targets = [(_FLAT, raw)]
    if env_type == "slurm" and head in SHARED_SLURM_KEYS:
        targets.append((_FLAT, f"executor.{raw}"))
    return targets


def _executor_key(key: str) -> str:
    if key in MAIL_KEYS:
        return f"executor.extra_sbatch.{key}"
    return f"executor.{key}"


def _executor_form(executor: dict[str, Any]) -> dict[str, Any]:
    for key in LIST_KEYS:
        if isinstance(executor.get(key), str):
            executor[key] = [executor[key]]
    return executor
