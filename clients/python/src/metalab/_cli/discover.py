"""`metalab discover`: print the store locator of the nearest service bundle."""

from __future__ import annotations

import json

import click

from metalab._bundle.discover import discover_for_project
from metalab._cli.options import env_option, json_option, show_secrets_option
from metalab._locator import redact_locator


@click.command()
@env_option
@json_option
@show_secrets_option
def discover(env_name: str | None, as_json: bool, show_secrets: bool) -> None:
    """Print the store locator of the nearest running service bundle."""
    found = discover_for_project(None, env_name)
    locator = found.store_locator if show_secrets else redact_locator(found.store_locator)
    if as_json:
        payload = {
            "store_locator": locator,
            "bundle_path": str(found.path),
            "project": found.bundle.get("project"),
            "environment": found.bundle.get("environment"),
        }
        click.echo(json.dumps(payload))
    else:
        click.echo(locator)
