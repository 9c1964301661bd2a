"""`metalab orphans [--no-folders] [--clean]`: run directories no experiment refers to."""

from __future__ import annotations

import json

import click

from metalab._cli.options import json_option
from metalab._cli.workspace import workspace_options


@click.command()
@workspace_options
@click.option("--no-folders", is_flag=True, help="Ignore auxiliary folders entirely.")
@click.option("--clean", is_flag=True, help="Remove orphans (archives are never touched).")
@json_option
def orphans(
    workspace_id: str | None, workdir: str | None, no_folders: bool, clean: bool, as_json: bool
) -> None:
    """List run directories no experiment refers to; archived runs count as recoverable."""
    from metalab._cli.workspace import selected_workspace
    from metalab.workspace.orphans import ORPHAN, find_orphans
    from metalab.workspace.orphans import clean as clean_entries

    workspace = selected_workspace(workspace_id, workdir)
    entries = find_orphans(workspace, use_folders=not no_folders)
    removed = clean_entries(entries) if clean else []
    if as_json:
        click.echo(
            json.dumps(
                {
                    "workspace": str(workspace.path),
                    "entries": [
                        {"kind": e.kind, "run": e.name, "path": str(e.path), "where": e.where}
                        for e in entries
                    ],
                    "removed": [str(p) for p in removed],
                }
            )
        )
        return
    for entry in entries:
        click.echo(f"{entry.kind:<12} {entry.name}  {entry.path} ({entry.where})")
    count = sum(1 for e in entries if e.kind == ORPHAN)
    click.echo(
        f"{count} orphan(s), {len(entries) - count} other in {workspace.path}"
        + (f"; removed {len(removed)}" if clean else "")
    )
