"""The hottest commands without click: `services up` (reuse), `services status` (healthy),
`services down` (a local bundle of native processes), `env list` and `discover`.

`dispatch` answers only the plain forms of these commands — the options listed in `COMMANDS`,
nothing else, no global option before the command — and only when it has the whole answer in
hand: a healthy local bundle to reuse or report, a project that loads, a bundle that is found.
In every other case, errors included, it returns None and the click CLI runs the command from
the start, with its own parser and messages. The answers are built by the same functions the
click commands use (`fastpath`, `render`), so both print the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from metalab.errors import MetalabError

Options = dict[str, Any]

ENV = {"--env": "env_name"}
SET = {"--set": "overrides"}
JSON = {"--json": "as_json"}
SECRETS = {"--show-secrets": "show_secrets"}
QUIET = {"--quiet": "quiet", "-q": "quiet"}


def _services_up(options: Options) -> list[str] | None:
    from metalab._cli.context import resolve
    from metalab._cli.fastpath import healthy_bundle
    from metalab._cli.render import up_lines

    environment = resolve(options.get("env_name"), options.get("overrides", ()), need_project=True)
    bundle = healthy_bundle(environment)
    if bundle is None:
        return None
    as_json, secrets = options.get("as_json", False), options.get("show_secrets", False)
    return up_lines(bundle, True, environment.name, as_json, secrets)


def _services_status(options: Options) -> list[str] | None:
    from metalab._cli.context import resolve
    from metalab._cli.fastpath import healthy_status
    from metalab._cli.render import status_output

    environment = resolve(options.get("env_name"), options.get("overrides", ()), need_project=True)
    view = healthy_status(environment)
    if view is None:
        return None
    project, name = environment.project, environment.name
    return status_output(view, [], project, name, options.get("as_json", False))


def _services_down(options: Options) -> list[str] | None:
    from metalab._cli.context import resolve
    from metalab._cli.fastdown import stop_services

    environment = resolve(options.get("env_name"), options.get("overrides", ()), need_project=True)
    try:
        stopped = stop_services(environment, options.get("quiet", False))
    except TimeoutError:
        return None  # a process group survived SIGKILL: the orchestrator reports it
    return [f"Services stopped ({environment.name})."] if stopped else None


def _env_list(options: Options) -> list[str] | None:
    from metalab._cli.render import env_list_lines
    from metalab._config.resolve import load_project, select_environment

    project = load_project()
    selection = select_environment(project, None)
    return env_list_lines(project, selection, options.get("as_json", False))


def _discover(options: Options) -> list[str] | None:
    from metalab._cli.render import discover_lines
    from metalab._config.discover import discover_for_project

    found = discover_for_project(None, options.get("env_name"))
    return discover_lines(found, options.get("as_json", False), options.get("show_secrets", False))


Handler = Callable[[Options], "list[str] | None"]

# command words → (flags, options taking one value, handler)
COMMANDS: dict[tuple[str, ...], tuple[dict[str, str], dict[str, str], Handler]] = {
    ("services", "up"): ({**JSON, **SECRETS, **QUIET}, {**ENV, **SET}, _services_up),
    ("services", "status"): (JSON, {**ENV, **SET}, _services_status),
    ("services", "down"): (QUIET, {**ENV, **SET}, _services_down),
    ("env", "list"): (JSON, {}, _env_list),
    ("discover",): ({**JSON, **SECRETS}, ENV, _discover),
}
REPEATABLE = frozenset({"overrides"})


def parse(args: Sequence[str], flags: dict[str, str], valued: dict[str, str]) -> Options | None:
    """``args`` as click would read them for these options; None for anything else."""
    found: Options = {}
    rest = iter(args)
    for arg in rest:
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in flags and not eq:
            found[flags[name]] = True
        elif name in valued:
            if not eq:
                value = next(rest, "-")
                if value.startswith("-"):
                    return None  # a missing value, or one click might read otherwise
            dest = valued[name]
            found[dest] = (*found.get(dest, ()), value) if dest in REPEATABLE else value
        else:
            return None
    return found


def dispatch(args: Sequence[str]) -> list[str] | None:
    """The lines ``metalab ARGS`` prints, when answered here; None: let click run it."""
    for words, (flags, valued, handler) in COMMANDS.items():
        if tuple(args[: len(words)]) == words:
            options = parse(args[len(words) :], flags, valued)
            if options is None:
                return None
            try:
                return handler(options)
            except MetalabError:
                return None  # click runs it again and reports the error its own way
    return None
