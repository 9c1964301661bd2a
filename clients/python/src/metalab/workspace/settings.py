"""The user settings file: ``$XDG_CONFIG_HOME/metalab/settings.yaml`` (or ``$METALAB_SETTINGS``).

Every key is optional::

    server:      {host, port, token}        how the CLI reaches running services
    env:         {NAME: value}              exported to every run and batch job
    workspaces:  [{id, path, env, triggers, folders: [{path, mode}], ssh: {...}}]

``${env:VAR}`` in any string value expands from the environment; an unset variable is an error.
Loading is cheap: YAML, expansion, then pydantic validation only when this exact document has
not validated before (`metalab._config.validate`). Checks pydantic cannot express (duplicate
workspace ids, folder paths, environment variable names) always run, in plain code.

Paths: a local workspace's ``path`` and every folder ``path`` are made absolute; ``~`` expands
and a relative path resolves against the directory of the settings file (never the cwd). A
remote workspace's ``path`` lives on the remote host and is kept as written.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from metalab.errors import ConfigError
from metalab.workspace.settings_path import settings_file_exists, settings_path

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Bumped whenever the settings schema changes, so cached validations of older schemas expire.
_VALIDATION_KIND = "settings:2"

FolderMode = Literal["use", "backup", "move"]

__all__ = ["settings_path"]  # re-exported: its home is `metalab.workspace.settings_path`


@dataclass(frozen=True)
class ServerConfig:
    host: str | None = None
    port: int | None = None
    token: str | None = None


@dataclass(frozen=True)
class SshConfig:
    """How to reach a remote workspace (see `metalab.workspace.remote.remote_argv`)."""

    host: str
    shell_init: str | None = None
    uv_offline: bool = False
    python: str | None = None
    metalab_path: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Folder:
    """An auxiliary folder of a workspace; ``path`` is absolute."""

    path: Path
    mode: FolderMode


@dataclass(frozen=True)
class Workspace:
    """A place experiments live. ``path`` is the default FileStore root for local workspaces."""

    id: str
    path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    triggers: tuple[str, ...] = ()
    folders: tuple[Folder, ...] = ()
    ssh: SshConfig | None = None

    @property
    def is_remote(self) -> bool:
        return self.ssh is not None

    def folders_with(self, *modes: FolderMode) -> tuple[Folder, ...]:
        return tuple(f for f in self.folders if f.mode in modes)


@dataclass(frozen=True)
class Settings:
    """The validated settings file. ``document`` is the expanded YAML (token included)."""

    path: Path
    document: dict[str, Any]
    server: ServerConfig = ServerConfig()
    env: Mapping[str, str] = field(default_factory=dict)
    workspaces: tuple[Workspace, ...] = ()

    def server_dict(self) -> dict[str, Any]:
        server = self.document.get("server") or {}
        return dict(server)

    def workspace(self, workspace_id: str) -> Workspace:
        """The workspace with this id; `ConfigError` naming the known ids otherwise."""
        for workspace in self.workspaces:
            if workspace.id == workspace_id:
                return workspace
        known = ", ".join(w.id for w in self.workspaces) or "none defined"
        raise ConfigError(
            f"unknown workspace {workspace_id!r} (known: {known})", file=str(self.path)
        )


def _expand(value: Any, path: Path, key: str) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"${{env:{name}}} is not set", file=str(path), key=key)
            return os.environ[name]

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _expand(v, path, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, path, f"{key}.{i}") for i, v in enumerate(value)]
    return value


def load_settings(path: Path) -> Settings:
    """Read, expand ``${env:VAR}`` and validate; errors name the file and the dotted key."""
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=str(path)) from None
    from metalab._config.limits import check_document, check_size

    check_size(text, str(path))
    try:
        document = yaml.load(text, Loader=_bounded_loader(yaml))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"invalid YAML: {first[:300]}", file=str(path)) from exc
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", file=str(path)) from None
    check_document(document, str(path))
    if document is None:
        raise ConfigError("empty settings file (delete it or add keys)", file=str(path))
    if not isinstance(document, dict):
        raise ConfigError("expected a mapping at the top level", file=str(path))
    document = _expand(document, path, "")
    _validate(document, path)
    return _build(document, path)


MAX_ALIASES = 100


def _bounded_loader(yaml: Any) -> Any:
    """PyYAML's safe loader refusing more than ``MAX_ALIASES`` aliases: with
    `limits.check_document`'s node budget, an alias bomb fails fast instead of hanging."""

    class BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases")
            return super().compose_node(parent, index)

    return BoundedLoader


def current_settings() -> Settings | None:
    """The settings at `settings_path`, or None when there is no such file."""
    path = settings_path()
    if not settings_file_exists(path):
        return None
    return load_settings(path)


def _validate(document: dict[str, Any], path: Path) -> None:
    from metalab._config.validate import validate_document

    def validator(doc: Any) -> None:
        from metalab.workspace.settings_schema import SettingsModel

        SettingsModel.model_validate(doc)

    try:
        validate_document(
            _VALIDATION_KIND, document, validator, lambda _key: str(path), ("settings",)
        )
    except ConfigError as exc:
        if exc.problem.startswith("unknown key") and exc.key:
            hint = _closest_key(exc.key)
            if hint:
                raise ConfigError(
                    f"unknown key (did you mean '{hint}'?)", file=exc.file, key=exc.key
                ) from None
        raise


def _closest_key(dotted: str) -> str | None:
    """The valid key closest to the last part of ``dotted`` at that place in the schema."""
    from typing import get_args

    from metalab.workspace.settings_schema import SettingsModel

    parts = dotted.split(".")
    model: Any = SettingsModel
    for part in parts[:-1]:
        if part.isdigit():
            continue
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return None
        annotation = fields[part].annotation
        stack, found = [annotation], None
        while stack and found is None:
            candidate = stack.pop()
            if hasattr(candidate, "model_fields"):
                found = candidate
            stack.extend(get_args(candidate))
        model = found
    close = difflib.get_close_matches(parts[-1], list(getattr(model, "model_fields", {})), n=1)
    return close[0] if close else None


def _absolute(raw: str, base: Path) -> Path:
    expanded = Path(os.path.expanduser(raw))
    joined = expanded if expanded.is_absolute() else base / expanded
    return Path(os.path.normpath(joined))


def _inside(a: Path, b: Path) -> bool:
    """True when ``a`` is ``b`` or below it (lexically; both absolute and normalised)."""
    return a == b or b in a.parents


def _check_env(env: Mapping[str, str], path: Path, key: str) -> None:
    for name in env:
        if not _ENV_NAME.match(name):
            raise ConfigError(
                "environment variable names are letters, digits and '_' (not starting with a "
                "digit)",
                file=str(path),
                key=f"{key}.{name}",
            )


def _build(document: dict[str, Any], path: Path) -> Settings:
    """Typed settings from a validated document, plus the checks pydantic cannot express."""
    base = Path(os.path.abspath(path)).parent
    server_doc = document.get("server") or {}
    server = ServerConfig(server_doc.get("host"), server_doc.get("port"), server_doc.get("token"))
    env = dict(document.get("env") or {})
    _check_env(env, path, "env")
    workspaces: list[Workspace] = []
    seen: dict[str, int] = {}
    for index, doc in enumerate(document.get("workspaces") or []):
        key = f"workspaces.{index}"
        workspace_id = doc["id"]
        if workspace_id in seen:
            raise ConfigError(
                f"duplicate workspace id {workspace_id!r} (also workspaces.{seen[workspace_id]})",
                file=str(path),
                key=f"{key}.id",
            )
        seen[workspace_id] = index
        ws_env = dict(doc.get("env") or {})
        _check_env(ws_env, path, f"{key}.env")
        ssh_doc = doc.get("ssh")
        ssh = None
        if ssh_doc is not None:
            ssh = SshConfig(
                host=ssh_doc["host"],
                shell_init=ssh_doc.get("shell_init"),
                uv_offline=bool(ssh_doc.get("uv_offline", False)),
                python=ssh_doc.get("python"),
                metalab_path=ssh_doc.get("metalab_path"),
                options=tuple(ssh_doc.get("options") or ()),
            )
        ws_path = Path(doc["path"]) if ssh else _absolute(doc["path"], base)
        folders: list[Folder] = []
        for f_index, f_doc in enumerate(doc.get("folders") or []):
            f_key = f"{key}.folders.{f_index}"
            folder = Folder(
                Path(f_doc["path"]) if ssh else _absolute(f_doc["path"], base), f_doc["mode"]
            )
            if not ssh and (_inside(folder.path, ws_path) or _inside(ws_path, folder.path)):
                raise ConfigError(
                    f"folder {folder.path} overlaps the workspace path {ws_path}",
                    file=str(path),
                    key=f"{f_key}.path",
                )
            for other in folders:
                if _inside(folder.path, other.path) or _inside(other.path, folder.path):
                    raise ConfigError(
                        f"folder {folder.path} overlaps folder {other.path}",
                        file=str(path),
                        key=f"{f_key}.path",
                    )
            if folder.mode == "move" and any(f.mode == "move" for f in folders):
                raise ConfigError(
                    "a workspace has at most one 'move' folder", file=str(path), key=f"{f_key}.mode"
                )
            folders.append(folder)
        workspaces.append(
            Workspace(
                id=workspace_id,
                path=ws_path,
                env=ws_env,
                triggers=tuple(doc.get("triggers") or ()),
                folders=tuple(folders),
                ssh=ssh,
            )
        )
    return Settings(path, document, server, env, tuple(workspaces))


def effective_document(settings: Settings | None, show_secrets: bool = False) -> dict[str, Any]:
    """The settings as `metalab settings show` prints them: resolved paths, defaults, no token."""
    if settings is None:
        return {
            "file": str(settings_path()),
            "exists": False,
            "server": None,
            "env": {},
            "workspaces": [],
        }
    token = settings.server.token
    server = None
    if settings.document.get("server") is not None:
        server = {
            "host": settings.server.host,
            "port": settings.server.port,
            "token": (token if show_secrets else "***") if token else None,
        }
    return {
        "file": str(settings.path),
        "exists": True,
        "server": server,
        "env": dict(settings.env),
        "workspaces": [
            {
                "id": w.id,
                "path": str(w.path),
                "remote": w.is_remote,
                "env": dict(w.env),
                "triggers": list(w.triggers),
                "folders": [{"path": str(f.path), "mode": f.mode} for f in w.folders],
                "ssh": None
                if w.ssh is None
                else {
                    "host": w.ssh.host,
                    "shell_init": w.ssh.shell_init,
                    "uv_offline": w.ssh.uv_offline,
                    "python": w.ssh.python,
                    "metalab_path": w.ssh.metalab_path,
                    "options": list(w.ssh.options),
                },
            }
            for w in settings.workspaces
        ],
    }
