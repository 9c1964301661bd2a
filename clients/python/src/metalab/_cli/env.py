"""`metalab env list|show`: what environments exist and what each resolves to."""

from __future__ import annotations

import json
from typing import Any

import click

from metalab._cli.options import env_option, json_option, set_option, show_secrets_option
from metalab._config.resolve import (
    IMPLICIT_ENV,
    Environment,
    Project,
    load_project,
    redact,
    resolve_environment,
    select_environment,
)


@click.group()
def env() -> None:
    """Inspect environment profiles."""


def _listing(project: Project) -> list[tuple[str, str]]:
    names = project.environments
    if not names:
        return [(IMPLICIT_ENV, "local")]
    return [(name, str(doc.get("type", "?"))) for name, doc in names.items()]


@env.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List environment profiles; `*` marks the default."""
    project = load_project()
    selection = select_environment(project, None)
    rows = _listing(project)
    if as_json:
        data = [{"name": n, "type": t, "default": n == selection.name} for n, t in rows]
        click.echo(json.dumps({"environments": data, "default_source": selection.source}))
        return
    for name, env_type in rows:
        marker = " *" if name == selection.name else ""
        click.echo(f"  {name:<20} {env_type}{marker}")
    click.echo("")
    click.echo(f"  * = default ({_default_note(selection.source)})")


def _default_note(source: str) -> str:
    return {
        "default_env": "set via [project] default_env",
        "METALAB_ENV": "set via METALAB_ENV",
        "implicit": "no default_env set: the implicit local environment",
    }.get(source, source)


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
    project = load_project()
    environment = resolve_environment(project, name or env_name, overrides)
    if as_json:
        click.echo(json.dumps(_as_json(environment, show_secrets, origin), indent=2))
        return
    for line in render(environment, show_secrets, origin):
        click.echo(line)


def _as_json(environment: Environment, show_secrets: bool, origin: bool) -> dict[str, Any]:
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
