"""`metalab discover`: print the store locator of the nearest service bundle."""

from __future__ import annotations

import click

from metalab._cli.options import env_option, json_option, show_secrets_option
from metalab._cli.render import discover_lines


@click.command()
@env_option
@json_option
@show_secrets_option
def discover(env_name: str | None, as_json: bool, show_secrets: bool) -> None:
    """Print the store locator of the nearest running service bundle."""
    from metalab._config.discover import discover_for_project

    for line in discover_lines(discover_for_project(None, env_name), as_json, show_secrets):
        click.echo(line)
