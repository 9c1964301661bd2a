"""Entry point: a lazily loading click group and the one place errors become exit codes."""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any

import click

from metalab._cli.remote import remote_options
from metalab.errors import MetalabError

# One group (or command) per noun, each in its own module, imported only when used.
COMMANDS = {
    "env": ("metalab._cli.env", "env"),
    "discover": ("metalab._cli.discover", "discover"),
    "services": ("metalab._cli.services", "services"),
    "server": ("metalab._cli.server", "server"),
    "tunnel": ("metalab._cli.tunnel", "tunnel"),
    "settings": ("metalab._cli.settings", "settings"),
    "orphans": ("metalab._cli.orphans", "orphans"),
    "runs": ("metalab._cli.runs", "runs"),
    "store": ("metalab._cli.store", "store"),
    "monitor": ("metalab._cli.monitor", "monitor"),
    "completion": ("metalab._cli.completion", "completion"),
}

# The first paragraph of each command's help, for `metalab --help` without importing every
# command's module (tests/unit/test_cli_fast.py keeps them equal to the commands' own help).
SUMMARIES = {
    "completion": "Print the completion script for SHELL.",
    "discover": "Print the store locator of the nearest running service bundle.",
    "env": "Inspect environment profiles.",
    "monitor": "Stream the status of a remote workspace's services, printing changes.",
    "orphans": "List run directories no experiment refers to; archived runs count as recoverable.",
    "runs": "Inspect and manage run directories.",
    "server": "Run metalab's gRPC services until SIGTERM/SIGINT (graceful shutdown).",
    "services": "Provision, inspect and stop the services of an environment.",
    "settings": "The user settings file ($METALAB_SETTINGS or ~/.config/metalab/settings.yaml).",
    "store": "Run stores (FileStore, PostgresStore).",
    "tunnel": "Forward the environment's remote services to localhost (Ctrl+C closes).",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (keeps `metalab env list` fast)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target
        command: click.Command = getattr(import_module(module_name), attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's own listing, of stand-ins carrying each command's summary."""
        stand_ins = {name: click.Command(name, help=SUMMARIES[name]) for name in COMMANDS}
        click.Group.format_commands(click.Group(commands=stand_ins), ctx, formatter)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """With ``--workspace`` naming a remote workspace, run ``args`` there instead."""
        if ctx.params.get("workspace") and not ctx.resilient_parsing:
            from metalab._cli.remote import forward_if_remote

            forward_if_remote(ctx, args)
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-") and not ctx.resilient_parsing:
            ctx.fail(f"No such command {name!r}.{did_you_mean(name)}")
        return super().resolve_command(ctx, args)


def did_you_mean(name: str) -> str:
    """`` Did you mean 'services'?`` for a near miss of a command name, else ``""``."""
    from difflib import get_close_matches

    close = get_close_matches(name, COMMANDS)
    if not close:
        return ""
    if len(close) == 1:
        return f" Did you mean {close[0]!r}?"
    return f" (Did you mean one of: {', '.join(close)}?)"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="metalab")
@click.option(
    "--workspace",
    metavar="ID",
    default=None,
    help="Workspace from the settings file; a remote one runs the command over SSH.",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log to stderr: -v for INFO, -vv for DEBUG (secrets are never logged).",
)
@remote_options
@click.pass_context
def cli(ctx: click.Context, /, workspace: str | None, verbose: int, **_remote: Any) -> None:
    """Provision a PostgreSQL run index and the Atlas dashboard, locally or on SLURM."""
    ctx.meta["metalab.workspace"] = workspace
    if verbose and not ctx.resilient_parsing:
        from metalab._cli.verbosity import configure

        configure(verbose)


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI: `MetalabError` → one line on stderr, exit 2 (config/usage) or 1 (runtime)."""
    try:
        return cli.main(args=argv, prog_name="metalab", standalone_mode=False)
    except MetalabError as exc:
        click.echo(f"metalab: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)


if __name__ == "__main__":
    main()
