"""`metalab runs recover EXP/RUN`: copy an archived run back into the workspace."""

from __future__ import annotations

import click

from metalab._cli.workspace import workspace_options


@click.group()
def runs() -> None:
    """Inspect and manage run directories."""


@runs.command()
@click.argument("run", metavar="EXP/RUN")
@workspace_options
def recover(run: str, workspace_id: str | None, workdir: str | None) -> None:
    """Copy run EXP/RUN back from the first folder holding it (exit 1 when none does)."""
    from metalab._cli.workspace import selected_workspace
    from metalab._folders import recover_run
    from metalab.errors import UsageError

    experiment_id, sep, run_id = run.partition("/")
    if not sep or not experiment_id or not run_id or "/" in run_id:
        raise UsageError(f"expected EXP/RUN (got {run!r})")
    workspace = selected_workspace(workspace_id, workdir, experiment_id)
    rel = f"{experiment_id}/runs/{run_id}"
    folder = recover_run(rel, workspace)
    if folder is None:
        click.echo(f"{run} is already in {workspace.path}")
    else:
        click.echo(
            f"recovered {run} from {folder.mode} folder {folder.path} into {workspace.path / rel}"
        )
