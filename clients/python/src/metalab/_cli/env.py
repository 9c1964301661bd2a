"""`metalab env list|show`: what environments exist and what each resolves to."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from metalab._cli.options import env_option, json_option, set_option, show_secrets_option
from metalab._cli.render import env_list_lines

if TYPE_CHECKING:
    from metalab._config.resolve import Environment


@click.group()
def env() -> None:
    """Inspect environment profiles."""


@env.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List environment profiles; `*` marks the default."""
    from metalab._config.resolve import load_project, select_environment

    project = load_project()
    for line in env_list_lines(project, select_environment(project, None), as_json):
        click.echo(line)


@env.command("show")
@click.argument("name", required=False)
@env_option
@set_option
@json_option
@show_secrets_option
@click.option("--origin", is_flag=True, help="Show where each value came from.")
def show(
    name: str | None,
    env_name: str | None,
    overrides: tuple[str, ...],
    as_json: bool,
    show_secrets: bool,
    origin: bool,
) -> None:
    """Show the fully merged configuration of environment NAME."""
    from metalab._config.resolve import load_project, resolve_environment

    project = load_project()
    environment = resolve_environment(project, name or env_name, overrides)
    if as_json:
        click.echo(json.dumps(_as_json(environment, show_secrets, origin), indent=2))
        return
    for line in render(environment, show_secrets, origin):
        click.echo(line)


def _as_json(environment: Environment, show_secrets: bool, origin: bool) -> dict[str, Any]:
    from metalab._config.resolve import redact

    data: dict[str, Any] = {
        "name": environment.name,
        "type": environment.type,
        "file_root": environment.file_root,
        "config": redact(environment.settings, show_secrets),
        "services": redact(environment.services, show_secrets),
    }
    if origin:
        data["origins"] = environment.origins
    return data


def render(environment: Environment, show_secrets: bool = False, origin: bool = False) -> list[str]:
    """The seed's layout: Type, File root, Config, Services (secrets redacted)."""
    from metalab._config.resolve import redact

    def tag(key: str) -> str:
        if not origin:
            return ""
        found = sorted(
            {o for k, o in environment.origins.items() if k == key or k.startswith(key + ".")}
        )
        return f"  [{', '.join(found) or 'default'}]"

    lines = [f"Environment: {environment.name}", f"  Type: {environment.type}{tag('type')}"]
    if environment.file_root:
        lines.append(f"  File root: {environment.file_root}{tag('file_root')}")
    settings = redact(environment.settings, show_secrets)
    if settings:
        lines.append("  Config:")
        lines.extend(f"    {k}: {v}{tag(k)}" for k, v in settings.items())
    services = redact(environment.services, show_secrets)
    if services:
        lines.append("  Services:")
        lines.extend(f"    {k}: {v}{tag('services.' + k)}" for k, v in services.items())
    return lines
