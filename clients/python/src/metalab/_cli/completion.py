"""`metalab completion SHELL`: the shell completion script (click's), to source or install."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    bash:  eval "$(metalab completion bash)"      (e.g. in ~/.bashrc)
    zsh:   eval "$(metalab completion zsh)"       (e.g. in ~/.zshrc)
    fish:  metalab completion fish > ~/.config/fish/completions/metalab.fish
    """
    root = ctx.find_root().command
    completer = get_completion_class(shell)
    if completer is None:  # pragma: no cover - the Choice above only admits known shells
        raise click.UsageError(f"no completion for {shell}")
    click.echo(completer(root, {}, "metalab", "_METALAB_COMPLETE").source())
