"""The user settings applied to one `metalab.run` call: workspace, store root, environment.

The workspace comes from `metalab.workspace.selection.select_workspace`; with ``store=None``
its path is the FileStore root (no settings file or no local workspace: upstream's
``./experiments``). The environment is settings ``env`` < workspace ``env`` < ``run(env=)``.
The workspace's folders apply only when the store writes its files at the workspace path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metalab.core.redact import redact_env
from metalab.errors import ConfigError

if TYPE_CHECKING:
    from metalab.store.config import StoreConfig
    from metalab.workspace.settings import Settings, Workspace

log = logging.getLogger("metalab.runner")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_exported: ContextVar[Mapping[str, str] | None] = ContextVar("metalab_run_env", default=None)


@dataclass(frozen=True)
class Placement:
    """The settings applied to one `metalab.run` call."""

    settings: Settings | None
    workspace: Workspace | None
    env: Mapping[str, str] = field(default_factory=dict)
    archive: Workspace | None = None  # the workspace whose folders apply to this store

    def describe_workspace(self) -> str:
        if self.workspace is None:
            return "none (no settings file or no local workspace)"
        folders = ", ".join(f"{f.mode} {f.path}" for f in (self.archive or self.workspace).folders)
        text = f"{self.workspace.id} {self.workspace.path}"
        if folders and self.archive is None:
            return f"{text} (folders not used: the store is elsewhere)"
        return text + (f" (folders: {folders})" if folders else "")


def check_env(env: Mapping[str, Any] | None) -> dict[str, str]:
    """``run(env=)`` as a plain dict; `ConfigError` for a bad name or a non-string value."""
    if env is None:
        return {}
    if not isinstance(env, Mapping):
        raise ConfigError(f"env must be a mapping (got {type(env).__name__})", key="env")
    out: dict[str, str] = {}
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise ConfigError(
                "environment variable names are letters, digits and '_' (not starting with a "
                "digit)",
                key=f"env.{name}",
            )
        if not isinstance(value, str):
            raise ConfigError(f"must be a string (got {type(value).__name__})", key=f"env.{name}")
        out[name] = value
    return out


def place(
    experiment_id: str,
    workspace: str | None,
    workdir: str | os.PathLike[str] | None,
    run_env: Mapping[str, Any] | None,
) -> Placement:
    """Read the settings; select the workspace and environment for ``experiment_id``."""
    from metalab.workspace.selection import run_environment, select_workspace
    from metalab.workspace.settings import current_settings

    env = check_env(run_env)
    settings = current_settings()
    chosen = select_workspace(settings, experiment_id, workspace, workdir)
    return Placement(settings, chosen, run_environment(settings, chosen, env))


def store_root(config: StoreConfig) -> Path | None:
    """The directory a store config writes run files under (None when it has none)."""
    root = getattr(config, "root", None) or getattr(config, "file_root", None)
    return Path(root) if isinstance(root, str) else None


def with_store(placement: Placement, config: StoreConfig) -> Placement:
    """``placement`` with ``archive`` set when ``config`` writes at the workspace path."""
    ws = placement.workspace
    if ws is None or not ws.folders or ws.is_remote:
        return placement
    root = store_root(config)
    if root is not None and os.path.realpath(root) == os.path.realpath(ws.path):
        return Placement(placement.settings, ws, placement.env, ws)
    return placement


def describe_store(config: StoreConfig) -> str:
    """The store for the log: its kind and where it is, never a password."""
    connection = getattr(config, "connection_string", None)
    if isinstance(connection, str):
        from metalab.core.redact import redact_locator

        return f"PostgresStore {redact_locator(connection)} files {store_root(config)}"
    return f"{type(config).__name__.removesuffix('Config')} {store_root(config)}"


def describe_env(env: Mapping[str, str]) -> str:
    """``NAME=value`` pairs for the log; values of secret-looking names are ``***``."""
    return redact_env(env)


def exported_env() -> Mapping[str, str]:
    """The environment `metalab.run` is exporting to the runs it submits now (the SLURM
    executor writes it into its job scripts)."""
    return _exported.get() or {}


class ExportedEnv:
    """``env`` set in ``os.environ`` (and `exported_env`) from `start` until `stop`.

    In-process runs and forked pool workers see it; `stop` restores the previous values.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self._saved: dict[str, str | None] | None = None

    def start(self) -> None:
        if not self.env or self._saved is not None:
            return
        self._saved = {name: os.environ.get(name) for name in self.env}
        os.environ.update(self.env)

    def stop(self) -> None:
        if self._saved is None:
            return
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved = None

    @contextlib.contextmanager
    def submitting(self) -> Iterator[None]:
        """For the duration of a submission: `exported_env` returns ``env``."""
        token = _exported.set(self.env)
        try:
            yield
        finally:
            _exported.reset(token)
