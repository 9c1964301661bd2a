"""`metalab settings show [--json]`: the effective settings, token redacted."""

from __future__ import annotations

import json

import click

from metalab._cli.options import json_option, show_secrets_option


@click.group()
def settings() -> None:
    """The user settings file ($METALAB_SETTINGS or ~/.config/metalab/settings.yaml)."""


@settings.command()
@json_option
@show_secrets_option
def show(as_json: bool, show_secrets: bool) -> None:
    """Print the effective settings: paths resolved, defaults filled, token redacted."""
    from metalab.workspace.settings import current_settings, effective_document

    document = effective_document(current_settings(), show_secrets)
    if as_json:
        click.echo(json.dumps(document, indent=2))
        return
    if not document["exists"]:
        click.echo(f"# no settings file at {document['file']} (all defaults)")
        return
    import yaml

    click.echo(f"# {document['file']}")
    shown = {k: v for k, v in document.items() if k not in ("file", "exists")}
    click.echo(yaml.safe_dump(shown, sort_keys=False, default_flow_style=False).rstrip())
