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
    from metalab.errors import ProvisioningFailed
    from metalab_orchestrator.local.runtime_choice import choose_runtime

    try:
        choice = choose_runtime(str(environment.settings.get("runtime", "auto")))
    except ProvisioningFailed as exc:
        return "unavailable", str(exc)
    return choice.runtime, choice.reason


def render(environment: Environment, show_secrets: bool = False, origin: bool = False) -> list[str]:
    """The seed's layout: Type, File root, Config, Services (secrets redacted).

    Either layout of a profile shows its canonical form: the services job's resources flat,
    and an ``executor`` line when the executor defaults say more than those flat keys. With
    ``origin``, each value is tagged with its layer and, when it moved (from a sub-table, say),
    the key it was written as.
    """

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
