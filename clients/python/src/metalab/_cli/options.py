"""Options shared by commands that resolve an environment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.shell_completion import CompletionItem

F = TypeVar("F", bound=Callable[..., Any])


def env_option(function: F) -> F:
    """``--env NAME`` (falls back to METALAB_ENV, then [project] default_env)."""
    return click.option(
        "--env",
        "env_name",
        metavar="NAME",
        default=None,
        help="Environment profile (default: $METALAB_ENV, then [project] default_env).",
        shell_complete=_complete_env,
    )(function)


def _complete_env(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Environment names of the nearest `.metalab.toml` (and its local override), for completion."""
    from metalab._config.layers import load_files
    from metalab.errors import MetalabError

    try:
        files = load_files()
    except MetalabError:
        return []
    names: set[str] = set()
    for document in (files.base, files.local):
        environments = document.get("environments")
        if isinstance(environments, dict):
            names.update(str(name) for name in environments)
    return [CompletionItem(name) for name in sorted(names) if name.startswith(incomplete)]


def set_option(function: F) -> F:
    """``--set KEY=VALUE`` overrides, applied after the config files."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a resolved value, e.g. services.postgres.port=5433 (repeatable).",
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(
        function
    )


def show_secrets_option(function: F) -> F:
    return click.option(
        "--show-secrets", is_flag=True, help="Print secrets instead of redacting them."
    )(function)
