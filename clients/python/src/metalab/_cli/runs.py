"""`metalab runs recover EXP/RUN`: copy an archived run back into the workspace."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from metalab._cli.workspace import workspace_options

if TYPE_CHECKING:
    from metalab.workspace.settings import Folder, Workspace


@click.group()
def runs() -> None:
    """Inspect and manage run directories."""


@runs.command()
@click.argument("run", metavar="EXP/RUN")
@workspace_options
def recover(run: str, workspace_id: str | None, workdir: str | None) -> None:
    """Copy run EXP/RUN back from the first folder holding it (exit 1 when none does)."""
    from metalab._cli.workspace import selected_workspace
    from metalab.errors import UsageError
    from metalab.workspace.orphans import EARLIER, layout_of

    experiment_id, sep, run_id = run.partition("/")
    if not sep or not experiment_id or not run_id or "/" in run_id:
        raise UsageError(f"expected EXP/RUN (got {run!r})")
    workspace = selected_workspace(workspace_id, workdir, experiment_id)
    experiment_dir = workspace.path / experiment_id
    seen = [experiment_dir, *(f.path / experiment_id for f in workspace.folders)]
    known = next((d for d in seen if d.is_dir()), experiment_dir)
    if layout_of(known) == EARLIER:
        from metalab.workspace.folders import recover_run

        rel = f"{experiment_id}/runs/{run_id}"
        folder = recover_run(rel, workspace)
        where = workspace.path / rel
    else:
        folder = _recover(experiment_dir, run_id, workspace)
        where = experiment_dir
    if folder is None:
        click.echo(f"{run} is already in {workspace.path}")
    else:
        click.echo(f"recovered {run} from {folder.mode} folder {folder.path} into {where}")


def _recover(experiment_dir: Path, run_id: str, workspace: Workspace) -> Folder | None:
    """Copy an upstream-layout run back; None when the workspace has it (FolderError: no
    folder has it)."""
    from metalab._archive import find_archived, record_path, restore_run, settle
    from metalab.workspace.folders import FolderError

    settle(experiment_dir, workspace)
    if record_path(experiment_dir, run_id).exists():
        return None
    found = find_archived(experiment_dir, run_id, workspace)
    if found is None:
        searched = ", ".join(str(f.path) for f in workspace.folders) or "no folders configured"
        raise FolderError(
            f"{experiment_dir.name}/{run_id} is not in workspace {workspace.id} nor in any "
            f"folder ({searched})"
        )
    restore_run(experiment_dir, run_id, workspace)
    return found[0]
