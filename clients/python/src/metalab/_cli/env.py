"""`metalab env list|show`: what environments exist and what each resolves to."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from metalab._cli.options import env_option, json_option, set_option, show_secrets_option

if TYPE_CHECKING:
    from metalab._config.resolve import Environment


@click.group()
def env() -> None:
    """Inspect environment profiles."""


@env.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List environment profiles; `*` marks the default."""
    from metalab._cli.render import env_list_lines
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
    from metalab.core.redact import redact

    data: dict[str, Any] = {
        "name": environment.name,
        "type": environment.type,
        "file_root": environment.file_root,
        "config": redact(environment.settings, show_secrets),
        "services": redact(environment.services, show_secrets),
        "executor": redact(environment.executor, show_secrets),
    }
    if origin:
        data["origins"] = environment.origins
        data["sources"] = environment.sources
        if environment.type == "local":
            runtime, reason = runtime_choice(environment)
            data["runtime"] = {"chosen": runtime, "reason": reason}
    return data


def runtime_choice(environment: Environment) -> tuple[str, str]:
    """The runtime a local environment's services would run on here, and why ("unavailable"
    with the one-line error when none would)."""
    from metalab._client.embedded import runtime_choice as choice

    return choice(str(environment.settings.get("runtime", "auto")))


def render(environment: Environment, show_secrets: bool = False, origin: bool = False) -> list[str]:
    """The seed's layout: Type, File root, Config, Services (secrets redacted).

    Either layout of a profile shows its canonical form: the services job's resources flat,
    and an ``executor`` line when the executor defaults say more than those flat keys. With
    ``origin``, each value is tagged with its layer and, when it moved (from a sub-table, say),
    the key it was written as.
    """
    from metalab.core.redact import redact

    def tag(key: str) -> str:
        return f"  [{environment.source(key)}]" if origin else ""

    lines = [f"Environment: {environment.name}", f"  Type: {environment.type}{tag('type')}"]
    if environment.file_root:
        lines.append(f"  File root: {environment.file_root}{tag('file_root')}")
    if origin and environment.type == "local":
        runtime, reason = runtime_choice(environment)
        lines.append(f"  Runtime: {runtime}  [{reason}]")
    from metalab._config.layout import flat_executor

    settings = dict(redact(environment.settings, show_secrets))
    executor = redact(environment.executor, show_secrets)
    shown = environment.executor != flat_executor(environment.settings, environment.type)
    if shown and not origin:
        settings["executor"] = executor
    if settings or shown:
        lines.append("  Config:")
        lines.extend(f"    {k}: {v}{tag(k)}" for k, v in settings.items())
    if shown and origin:
        lines.append("    executor:")
        lines.extend(f"      {k}: {v}{tag('executor.' + k)}" for k, v in executor.items())
    services = redact(environment.services, show_secrets)
    if services:
        lines.append("  Services:")
        lines.extend(f"    {k}: {v}{tag('services.' + k)}" for k, v in services.items())
    return lines
