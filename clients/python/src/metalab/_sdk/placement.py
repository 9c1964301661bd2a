"""Where `metalab.run()` puts an experiment: the user settings applied to one call.

The workspace comes from `metalab._workspaces.select_workspace`; its path is the FileStore root
when ``store=None``; the environment is settings ``env`` < workspace ``env`` < ``run(env=)``.
The workspace's auxiliary folders apply only when the store's files live at the workspace path
(an explicit ``store=`` elsewhere is never archived into, nor restored from, its folders).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metalab._runstore.base import StoreConfig
from metalab._settings import Settings, Workspace
from metalab.errors import ConfigError

log = logging.getLogger("metalab.run")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|KEY|CREDENTIAL", re.IGNORECASE)


@dataclass(frozen=True)
class Placement:
    """The settings applied to one `metalab.run()` call."""

    settings: Settings | None
    workspace: Workspace | None
    env: Mapping[str, str] = field(default_factory=dict)
    archive: Workspace | None = None  # the workspace whose folders apply to this store

    def describe_workspace(self) -> str:
        if self.workspace is None:
            return "none (no settings file or no local workspace)"
        archive = self.archive.folders if self.archive else ()
        folders = ", ".join(f"{f.mode} {f.path}" for f in archive)
        return f"{self.workspace.id} {self.workspace.path}" + (
            f" (folders: {folders})" if folders else ""
        )


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
    """Read the settings and select the workspace and environment for ``experiment_id``."""
    from metalab._settings import current_settings
    from metalab._workspaces import run_environment, select_workspace

    env = check_env(run_env)
    settings = current_settings()
    chosen = select_workspace(settings, experiment_id, workspace, workdir)
    return Placement(settings, chosen, run_environment(settings, chosen, env))


def store_root(config: StoreConfig) -> Path | None:
    """The directory the store writes run files under (None for stores without one)."""
    root = getattr(config, "root", None) or getattr(config, "file_root", None)
    return Path(root) if isinstance(root, str) else None


def with_store(placement: Placement, config: StoreConfig) -> Placement:
    """``placement`` with ``archive`` set when ``config`` writes at the workspace path."""
    ws = placement.workspace
    if ws is None or not ws.folders:
        return placement
    root = store_root(config)
    if root is not None and os.path.realpath(root) == os.path.realpath(ws.path):
        return Placement(placement.settings, ws, placement.env, ws)
    log.info(
        "workspace %s folders not used: the store writes under %s, not %s", ws.id, root, ws.path
    )
    return placement


def describe_env(env: Mapping[str, str]) -> str:
    """``NAME=value`` pairs for the log; values of secret-looking names are ``***``."""
    if not env:
        return "(none)"
    return " ".join(
        f"{name}={'***' if _SECRET_NAME.search(name) else value}" for name, value in env.items()
    )


@contextlib.contextmanager
def exported(env: Mapping[str, str]) -> Iterator[None]:
    """Set ``env`` in this process for the duration (in-process runs), then restore it."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
