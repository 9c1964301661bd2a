"""Select and resolve one environment: base → profile → local → flags → environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from metalab._config import trace
from metalab._config.layers import (
    CONFIG_NAME,
    ConfigFiles,
    Origins,
    deep_merge,
    load_files,
    nest,
)
from metalab._config.validate import validate_document
from metalab.errors import ConfigError

ENV_VAR_PREFIX = "METALAB__"
IMPLICIT_ENV = "local"


class Project(NamedTuple):
    """The merged, validated project document (base + local) and where its values came from."""

    files: ConfigFiles
    document: dict[str, Any]
    origins: Origins
    name: str
    directory: Path

    @property
    def environments(self) -> dict[str, dict[str, Any]]:
        envs = self.document.get("environments", {})
        return envs if isinstance(envs, dict) else {}

    @property
    def default_env(self) -> str | None:
        section = self.document.get("project")
        value = section.get("default_env") if isinstance(section, dict) else None
        return value if isinstance(value, str) else None

    def locate(self, dotted: str) -> str | None:
        """The file a dotted key came from (its own entry, a child's, or its nearest parent's)."""
        origin = self.origins.get(dotted)
        if origin is None:
            children = [o for k, o in self.origins.items() if k.startswith(dotted + ".")]
            origin = children[0] if children else None
        parts = dotted.split(".")
        while origin is None and parts:
            parts.pop()
            origin = self.origins.get(".".join(parts))
        path = self.files.local_path if origin == "local" else self.files.base_path
        return str(path) if path else None


class Selection(NamedTuple):
    name: str
    source: str  # "--env" | "METALAB_ENV" | "default_env" | "implicit"


class Environment(NamedTuple):
    """One environment with every layer applied: what `services up` provisions.

    Either layout of a profile (the seed's flat keys, upstream's ``services``/``executor``
    sub-tables) resolves to the same value; see `metalab._config.layout`.
    """

    project: str
    project_dir: Path
    name: str
    type: str
    file_root: str | None
    settings: dict[str, Any]
    services: dict[str, dict[str, Any]]
    origins: Origins
    executor: dict[str, Any]
    sources: dict[str, str]

    def as_document(self) -> dict[str, Any]:
        """The environment as one dict: its settings plus `type`, `file_root` and `services`.

        This is what the orchestrator validates and provisions; executor defaults are not
        its business and stay out.
        """
        doc: dict[str, Any] = {"type": self.type, **self.settings}
        if self.file_root is not None:
            doc["file_root"] = self.file_root
        doc["services"] = self.services
        return doc

    def source(self, key: str) -> str:
        """Where the canonical ``key`` came from: its layer(s), and the raw key if it moved."""
        found = sorted({o for k, o in self.origins.items() if k == key or k.startswith(key + ".")})
        label = ", ".join(found) or "default"
        moved = sorted(
            f"environments.{self.name}.{raw}"
            for k, raw in self.sources.items()
            if k == key or k.startswith(key + ".")
        )
        return f"{label}: {', '.join(moved)}" if moved else label


def load_project(start: Path | None = None) -> Project:
    """Load and validate the project config found from ``start`` (cwd by default)."""
    return project_from(load_files(start), start)


def project_from(files: ConfigFiles, start: Path | None = None) -> Project:
    """Merge and validate already-read config documents (from files or from dicts)."""
    origins: Origins = {}
    document = deep_merge({}, files.base, origins, "base")
    document = deep_merge(document, files.local, origins, "local")
    directory = files.project_dir or (start or Path.cwd()).resolve()
    project = Project(files, document, origins, _project_name(document, directory), directory)
    if files.base_path is not None:
        extra = f" + {files.local_path}" if files.local_path else ""
        trace.info("config: %s%s", files.base_path, extra)
    elif files.base or files.local:
        trace.debug("config: given as documents")
    else:
        trace.info("config: no %s at or above %s", CONFIG_NAME, directory)
    if files.base_path is not None or files.base or files.local:
        validate_document("project", document, _validate_project, project.locate)
    return project


def _validate_project(document: Mapping[str, Any]) -> None:
    from metalab.core.schema import ProjectConfig

    ProjectConfig.model_validate(document)


def _validate_environment(document: Mapping[str, Any]) -> None:
    from pydantic import TypeAdapter

    from metalab.core.schema import Environment

    TypeAdapter(Environment).validate_python(document)


def _project_name(document: Mapping[str, Any], directory: Path) -> str:
    section = document.get("project")
    name = section.get("name") if isinstance(section, dict) else None
    return name if isinstance(name, str) and name else directory.name


def select_environment(
    project: Project, flag: str | None, environ: Mapping[str, str] | None = None
) -> Selection:
    """``--env`` > ``METALAB_ENV`` > ``[project] default_env`` > the implicit `local`."""
    environ = os.environ if environ is None else environ
    if flag:
        selection = Selection(flag, "--env")
    elif environ.get("METALAB_ENV"):
        selection = Selection(environ["METALAB_ENV"], "METALAB_ENV")
    elif project.default_env:
        selection = Selection(project.default_env, "default_env")
    else:
        return Selection(IMPLICIT_ENV, "implicit")
    if selection.name not in project.environments and not (
        selection.name == IMPLICIT_ENV and not project.environments
    ):
        available = ", ".join(sorted(project.environments)) or "none defined"
        key = "project.default_env" if selection.source == "default_env" else None
        where = project.locate(key) if key else str(project.files.base_path or "")
        raise ConfigError(
            f"no environment named {selection.name!r} (from {selection.source}; "
            f"available: {available})",
            file=where or None,
            key=key or f"environments.{selection.name}",
        )
    return selection


def parse_override(text: str, source: str) -> tuple[str, Any]:
    """Parse ``dotted.key=value``; the value is read as a TOML value, else kept as a string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"expected KEY=VALUE, got {text!r}", file=source)
    value = _toml_value(raw)
    from metalab._config.limits import check_document

    check_document({key: value}, source)
    return key, value


def _toml_value(raw: str) -> Any:
    """``raw`` read as a TOML value, else kept as a string. The common cases are answered
    without `tomllib` (a word that is no TOML value stays a string, a plain decimal is an int),
    exactly as `tomllib` would answer them."""
    if raw.isascii() and (raw[:1].isalpha() or raw[:1] == "_"):
        if raw not in ("true", "false", "inf", "nan") and raw.replace("-", "_").isidentifier():
            return raw
    elif raw.isascii() and raw.isdigit() and len(raw) < 19 and (raw == "0" or raw[0] != "0"):
        return int(raw)
    import tomllib

    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        return raw


def env_var_overrides(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """``METALAB__SERVICES__POSTGRES__PORT=5433`` → ``services.postgres.port=5433``."""
    found = []
    for name, value in sorted(environ.items()):
        if name.startswith(ENV_VAR_PREFIX) and len(name) > len(ENV_VAR_PREFIX):
            dotted = name[len(ENV_VAR_PREFIX) :].lower().replace("__", ".")
            found.append((name, f"{dotted}={value}"))
    return found


def _declares_nothing_new(override: str, declared: set[str]) -> bool:
    """Environment variables tune declared services; they never declare one (a machine-wide
    ``METALAB__SERVICES__POSTGRES__RUN_AS`` must not add Postgres to a file-only project)."""
    parts = override.partition("=")[0].split(".")
    return not (len(parts) > 2 and parts[0] == "services" and parts[1] not in declared)


def resolve_environment(
    project: Project,
    env_flag: str | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Environment:
    """Select an environment (``--env`` > ``METALAB_ENV`` > default) and build it."""
    environ = os.environ if environ is None else environ
    selection = select_environment(project, env_flag, environ)
    trace.info("environment: %s (from %s)", selection.name, selection.source)
    return build_environment(project, selection.name, overrides, environ)


def build_environment(
    project: Project,
    name: str,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Environment:
    """Merge base services → profile → local overrides → ``--set`` flags → ``METALAB__*`` vars,
    then bring the result to canonical form (`metalab._config.layout`)."""
    environ = os.environ if environ is None else environ
    origins: Origins = {}
    base, local = project.files.base, project.files.local
    doc: dict[str, Any] = {"type": IMPLICIT_ENV} if name not in project.environments else {}
    doc = deep_merge(doc, {"services": base.get("services", {})}, origins, "base")
    doc = deep_merge(doc, base.get("environments", {}).get(name, {}), origins, "profile")
    doc = deep_merge(doc, {"services": local.get("services", {})}, origins, "local")
    doc = deep_merge(doc, local.get("environments", {}).get(name, {}), origins, "local")
    layered = [(f"--set {o}", o, "flag") for o in overrides]
    declared = set(doc.get("services", {}))
    layered += [
        (var, o, "env var")
        for var, o in env_var_overrides(environ)
        if _declares_nothing_new(o, declared)
    ]
    override_sources: dict[str, str] = {}
    for source, text, origin in layered:
        key, value = parse_override(text, source)
        trace.debug("override: %s from %s", key, source.partition("=")[0])
        override_sources[key] = source
        doc = deep_merge(doc, nest(key, value), origins, origin)
    if layered:

        def locate(dotted: str) -> str | None:
            for key, source in override_sources.items():
                if dotted == key or dotted.startswith(key + ".") or key.startswith(dotted + "."):
                    return source
            return project.locate(f"environments.{name}.{dotted}")

        validate_document("environment", doc, _validate_environment, locate, ("environments", name))
    env_type = str(doc.pop("type"))
    file_root = doc.pop("file_root", None)
    if isinstance(file_root, str):
        file_root = str((project.directory / Path(file_root).expanduser()).resolve())
    from metalab._config.layout import split

    canonical = split(doc, env_type, origins)
    for key in ("type", "file_root"):
        if key in origins:
            canonical.origins[key] = origins[key]
    environment = Environment(
        project=project.name,
        project_dir=project.directory,
        name=name,
        type=env_type,
        file_root=file_root,
        settings=canonical.settings,
        services={k: dict(v) for k, v in canonical.services.items() if isinstance(v, dict)},
        origins=canonical.origins,
        executor=canonical.executor,
        sources=canonical.sources,
    )
    if trace.enabled():
        from metalab.core.redact import redact

        trace.debug("resolved %s: %s", name, redact(environment.as_document()))
        trace.debug("executor defaults: %s", redact(environment.executor))
    return environment
