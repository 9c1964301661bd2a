"""``--workspace ID`` / ``--workdir PATH`` on subcommands, and the workspace they select."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from metalab.workspace.settings import Workspace

F = TypeVar("F", bound=Callable[..., Any])


def workspace_options(function: F) -> F:
    function = click.option(
        "--workdir",
        metavar="PATH",
        default=None,
        help="Use this directory as the workspace.",
    )(function)
    return click.option(
        "--workspace",
        "workspace_id",
        metavar="ID",
        default=None,
        help="Workspace from the settings file (default: `metalab --workspace`, then triggers, "
        "then the first local workspace).",
    )(function)


def selected_workspace(
    workspace_id: str | None, workdir: str | None, experiment_id: str | None = None
) -> Workspace:
    """The workspace a subcommand acts on; without settings, today's ``./experiments``."""
    from pathlib import Path

    from metalab.workspace.selection import WORKDIR_ID, Workspace, select_workspace
    from metalab.workspace.settings import current_settings

    ctx = click.get_current_context(silent=True)
    if workspace_id is None and workdir is None and ctx is not None:
        workspace_id = ctx.find_root().meta.get("metalab.workspace")
    chosen = select_workspace(current_settings(), experiment_id, workspace_id, workdir)
    if chosen is None:
        return Workspace(id=WORKDIR_ID, path=Path.cwd() / "experiments")
    return chosen
