"""Remote workspaces at the CLI: ``--remote-*`` override flags and forwarding over SSH.

``metalab --workspace ID COMMAND ...`` runs ``COMMAND ...`` on the workspace's host when the
workspace has ``ssh:`` settings (see `metalab.workspace.remote.remote_argv`); for a local
workspace the option only sets the default workspace of the subcommand.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from metalab.workspace.remote import RemoteOverrides
    from metalab.workspace.settings import SshConfig, Workspace

F = TypeVar("F", bound=Callable[..., Any])

REMOTE_PARAMS = (
    "remote_shell_init",
    "uv_offline",
    "remote_python",
    "remote_metalab",
    "ssh_options",
)


def remote_options(function: F) -> F:
    """The flags that override a remote workspace's ``ssh:`` values."""
    decorators = [
        click.option(
            "--remote-shell-init",
            metavar="CODE",
            default=None,
            help="Shell code run before metalab on the remote host ('' for none).",
        ),
        click.option(
            "--uv-offline/--no-uv-offline",
            default=None,
            help="Pass --offline to `uv tool run` on the remote host.",
        ),
        click.option(
            "--remote-python",
            metavar="PYTHON",
            default=None,
            help="Python for `uv tool run --python` ('' for uv's default).",
        ),
        click.option(
            "--remote-metalab",
            metavar="PATH",
            default=None,
            help="metalab executable on the remote host (bypasses uv).",
        ),
        click.option(
            "-o",
            "ssh_options",
            multiple=True,
            metavar="OPTION",
            help="Extra `ssh -o OPTION` (repeatable), e.g. -o Port=2222.",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def overrides_from(params: dict[str, Any]) -> RemoteOverrides:
    from metalab.workspace.remote import RemoteOverrides

    return RemoteOverrides(
        shell_init=params.get("remote_shell_init"),
        uv_offline=params.get("uv_offline"),
        python=params.get("remote_python"),
        metalab_path=params.get("remote_metalab"),
        extra_options=tuple(params.get("ssh_options") or ()),
    )


def remote_workspace(workspace_id: str) -> Workspace:
    """The workspace ``workspace_id``; `UsageError` unless it is remote."""
    from metalab.errors import UsageError
    from metalab.workspace.settings import load_settings, settings_path
    from metalab.workspace.settings_path import settings_file_exists

    path = settings_path()
    if not settings_file_exists(path):
        raise UsageError(f"--workspace {workspace_id!r}: no settings file at {path}")
    workspace = load_settings(path).workspace(workspace_id)
    if workspace.ssh is None:
        raise UsageError(f"workspace {workspace_id!r} is not remote (it has no ssh: settings)")
    return workspace


def ssh_argv(ssh: SshConfig, params: dict[str, Any], args: Sequence[str]) -> list[str]:
    from importlib.metadata import version

    from metalab.workspace.remote import apply_overrides, remote_argv

    return remote_argv(apply_overrides(ssh, overrides_from(params)), version("metalab"), args)


def forward_if_remote(ctx: click.Context, args: Sequence[str]) -> None:
    """Run ``metalab ARGS`` in the remote workspace named by ``--workspace``, then exit.

    Returns (doing nothing) when the workspace is local.
    """
    import subprocess

    from metalab.workspace.settings import load_settings, settings_path
    from metalab.workspace.settings_path import settings_file_exists

    workspace_id = ctx.params.get("workspace")
    path = settings_path()
    if not workspace_id or not settings_file_exists(path):
        return  # an unknown id is reported by the subcommand's own selection
    workspace = load_settings(path).workspace(workspace_id)
    if workspace.ssh is None:
        if any(ctx.params.get(p) not in (None, ()) for p in REMOTE_PARAMS):
            from metalab.errors import UsageError

            raise UsageError(
                f"--remote-*/-o options need a remote workspace ({workspace_id!r} is local)"
            )
        return
    verbose = int(ctx.params.get("verbose") or 0)
    argv = ssh_argv(workspace.ssh, ctx.params, ["-" + "v" * verbose, *args] if verbose else args)
    sys.stdout.flush()
    code = subprocess.call(argv)
    if code == 255:
        click.echo(f"metalab: ssh to {workspace.ssh.host} failed (exit 255)", err=True)
    ctx.exit(code)
