"""Workspace selection for `metalab.run` and the CLI, and the environment a run receives.

Priority (first that applies wins):

====  ==========================  =============================================================
1     ``workspace="ID"``          that workspace; unknown id → `ConfigError`; a remote one is
                                  refused unless ``allow_remote`` (the CLI forwards it over SSH)
2     ``workdir=PATH``            that directory (the configured local workspace at that exact
                                  path, with its env and folders, else an ad-hoc workspace)
3     triggers                    the first *local* workspace, in file order, with a trigger
                                  glob (``*``, ``?``, ``[abc]``; `fnmatch.fnmatchcase`) that
                                  matches the experiment id (``name:version``) or its name
4     default                     the first *local* workspace
5     nothing configured          None: the caller keeps today's default (``./experiments``)
====  ==========================  =============================================================

Remote workspaces (with ``ssh:``) are never picked by triggers or by default.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from metalab.errors import ConfigError
from metalab.workspace.settings import Settings, Workspace

__all__ = ["Workspace", "select_workspace", "run_environment", "WORKDIR_ID"]

log = logging.getLogger("metalab.workspace")

WORKDIR_ID = "<workdir>"


def select_workspace(
    settings: Settings | None,
    experiment_id: str | None,
    workspace: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    *,
    allow_remote: bool = False,
) -> Workspace | None:
    """The workspace a run of ``experiment_id`` uses (see the module docstring), or None."""
    if workspace is not None:
        if settings is None:
            raise ConfigError(
                f"--workspace {workspace!r} given but there is no settings file "
                "(see `metalab settings show`)"
            )
        chosen = settings.workspace(workspace)
        if chosen.is_remote and not allow_remote:
            raise ConfigError(
                f"workspace {workspace!r} is remote; run there with "
                f"`metalab --workspace {workspace} ...`",
                file=str(settings.path),
            )
        log.info("workspace %s (explicit): %s", chosen.id, chosen.path)
        return chosen
    if workdir is not None:
        path = Path(os.path.normpath(Path(os.path.expanduser(os.fspath(workdir))).absolute()))
        for candidate in settings.workspaces if settings else ():
            if not candidate.is_remote and candidate.path == path:
                log.info("workspace %s (--workdir): %s", candidate.id, path)
                return candidate
        log.info("workspace: --workdir %s", path)
        return Workspace(id=WORKDIR_ID, path=path)
    if settings is None:
        return None
    local = [w for w in settings.workspaces if not w.is_remote]
    if experiment_id is not None:
        names = {experiment_id, experiment_id.partition(":")[0]}  # "name:version", or name
        for candidate in local:
            for pattern in candidate.triggers:
                if any(fnmatch.fnmatchcase(name, pattern) for name in names):
                    log.info(
                        "workspace %s (trigger %r matches %s): %s",
                        candidate.id,
                        pattern,
                        experiment_id,
                        candidate.path,
                    )
                    return candidate
    if local:
        log.info("workspace %s (default): %s", local[0].id, local[0].path)
        return local[0]
    return None


def run_environment(
    settings: Settings | None,
    workspace: Workspace | None,
    run_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Variables to export to a run: global ``env``, then the workspace's, then the run's."""
    merged: dict[str, str] = {}
    if settings is not None:
        merged.update(settings.env)
    if workspace is not None:
        merged.update(workspace.env)
    if run_env:
        merged.update(run_env)
    return merged


def default_store_root(workspace: Workspace | None, cwd: Path | None = None) -> Path:
    """The FileStore root: the workspace path, else today's ``./experiments``."""
    if workspace is not None:
        return workspace.path
    return (cwd or Path.cwd()) / "experiments"
