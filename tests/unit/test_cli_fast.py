"""The click-free fast path (`metalab._cli.entry`/`fast`): same output as click, or none.

For `env list` and `discover` (no services needed) the fast path and the click CLI must print
the same bytes and exit the same way, errors included; the option parser must hand anything
unusual to click; `metalab --help` must list the commands exactly as click would; and each fast
path's import graph must stay within the modules it needs (no timings here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from metalab._cli import entry, fast, main
from tests.unit.cli_helpers import run_in as run

CONFIG = """
[project]
name = "fast"
default_env = "local"

[services.postgres]

[environments.local]
type = "local"
file_root = "./runs"

[environments.slurm]
type = "slurm"
partition = "cpu"
"""

# Heavy or slow-path modules no fast path may import.
FORBIDDEN = (
    "click",
    "asyncio",
    "grpc",
    "pydantic",
    "psycopg",
    "yaml",
    "subprocess",
    "logging",
    "concurrent",
    "ssl",
    "tomllib",
)
# The first-party modules each fast path needs; growing past them fails the test.
ENV_LIST_MODULES = {
    "metalab",
    "metalab._api",  # main's lazy public API behind `import metalab` (api-run)
    "metalab.errors",
    "metalab.core",
    "metalab.core.errors",  # the exception tree `metalab.errors` re-exports
    "metalab._cli",
    "metalab._cli.entry",
    "metalab._cli.fast",
    "metalab._cli.render",
    "metalab._config",
    "metalab._config.layers",
    "metalab._config.limits",  # main's config input bounds, checked on cached documents too
    "metalab._config.parsed",
    "metalab._config.trace",  # main's upstream-layout tracing (cfg-cli)
    "metalab._config.resolve",
    "metalab._config.validate",
}
DISCOVER_MODULES = ENV_LIST_MODULES | {
    "metalab._config.layout",  # main's profile layouts, imported to build an environment
    "metalab._config.discover",
    "metalab.core.bundle",
    "metalab.core.bundle.discover",
    "metalab.core.bundle.files",
    "metalab.core.bundle.model",  # main's validated bundle model (trust)
    "metalab.core.fs",
    "metalab.core.redact",
}


def same_as_click(args: list[str], cwd: Path) -> tuple[int, str, str]:
    fast_result = run(entry.main, args, cwd)
    assert fast_result == run(main.main, args, cwd)
    return fast_result


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".metalab.toml").write_text(CONFIG)
    return tmp_path


def write_bundle(project: Path, **fields: Any) -> Path:
    path = project / "runs" / "services" / "bundle.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    bundle = {
        "schema_version": 1,
        "project": "fast",
        "environment": "local",
        "store_locator": "postgresql://metalab:hunter2@127.0.0.1:5432/metalab",
        **fields,
    }
    path.touch(mode=0o600)  # as metalab writes it (a looser bundle may be refused)
    path.write_text(json.dumps(bundle))
    return path


@pytest.mark.parametrize("args", [["env", "list"], ["env", "list", "--json"]])
def test_env_list_matches_click(project: Path, args: list[str]) -> None:
    code, out, _ = same_as_click(args, project)
    assert code == 0 and "local" in out


def test_env_list_with_no_project_matches_click(tmp_path: Path) -> None:
    code, out, _ = same_as_click(["env", "list"], tmp_path)
    assert code == 0 and "implicit local" in out


def test_env_list_errors_match_click(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METALAB_ENV", "nowhere")
    code, out, err = same_as_click(["env", "list"], project)
    assert code == 2 and not out and "no environment named 'nowhere'" in err
    (project / ".metalab.toml").write_text("[project\n")
    monkeypatch.delenv("METALAB_ENV")
    code, _, err = same_as_click(["env", "list", "--json"], project)
    assert code == 2 and "invalid TOML" in err


@pytest.mark.parametrize(
    "args", [["services", "up"], ["services", "up", "--json"], ["services", "status", "--json"]]
)
def test_services_outside_a_project_refuse_as_click_does(tmp_path: Path, args: list[str]) -> None:
    assert not [p for p in (tmp_path, *tmp_path.parents) if (p / ".metalab.toml").is_file()]
    code, out, err = same_as_click(args, tmp_path)
    assert code == 2 and not out and err.count("\n") == 1
    assert err.startswith("metalab: error: no .metalab.toml found in ")


@pytest.mark.parametrize(
    "args",
    [
        ["discover"],
        ["discover", "--json"],
        ["discover", "--show-secrets"],
        ["discover", "--env", "local", "--json", "--show-secrets"],
        ["discover", "--env=local"],
    ],
)
def test_discover_matches_click(project: Path, args: list[str]) -> None:
    write_bundle(project)
    nested = project / "a" / "b"
    nested.mkdir(parents=True)
    code, out, _ = same_as_click(args, nested)
    assert code == 0 and out.count("\n") == 1
    assert ("hunter2" in out) == ("--show-secrets" in args)


@pytest.mark.parametrize(
    "setup",
    ["none", "corrupt", "foreign", "other-env"],
)
def test_discover_errors_match_click(project: Path, setup: str) -> None:
    if setup == "corrupt":
        (write_bundle(project)).write_text("{")
    elif setup == "foreign":
        write_bundle(project, schema_version=99)
    elif setup == "other-env":
        write_bundle(project, environment="slurm")
    code, out, err = same_as_click(["discover"], project)
    assert code == 1 and not out and err.startswith("metalab: error: ")


def test_discover_with_unknown_env_matches_click(project: Path) -> None:
    write_bundle(project)
    code, _, err = same_as_click(["discover", "--env", "nope"], project)
    assert code == 2 and "no environment named 'nope'" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {}),
        (["--json"], {"as_json": True}),
        (["-q", "--quiet"], {"quiet": True}),
        (["--env", "a", "--env=b"], {"env_name": "b"}),
        (["--env="], {"env_name": ""}),
        (["--set", "a=1", "--set=b=2"], {"overrides": ("a=1", "b=2")}),
        (["--force"], None),
        (["--json=1"], None),
        (["--env"], None),
        (["--env", "-q"], None),
        (["-h"], None),
        (["--help"], None),
        (["-qq"], None),
        (["--", "x"], None),
        (["extra"], None),
    ],
)
def test_parse_takes_only_plain_forms(args: list[str], expected: dict[str, Any] | None) -> None:
    flags = {"--json": "as_json", "-q": "quiet", "--quiet": "quiet"}
    valued = {"--env": "env_name", "--set": "overrides"}
    assert fast.parse(args, flags, valued) == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["--workspace", "w", "env", "list"],
        ["-v", "env", "list"],
        ["env", "list", "--help"],
        ["env", "show"],
        ["services", "up", "--force"],
        ["services", "up", "--dry-run"],
        ["services", "up", "--tunnel"],
        ["services", "down"],
        ["services", "status", "--show-secrets"],
        ["discover", "extra"],
    ],
)
def test_dispatch_leaves_everything_else_to_click(args: list[str], project: Path) -> None:
    previous = os.getcwd()
    os.chdir(project)
    try:
        assert fast.dispatch(args) is None
    finally:
        os.chdir(previous)


def test_summaries_are_the_commands_own_help() -> None:
    ctx = click.Context(main.cli)
    assert set(main.SUMMARIES) == set(main.COMMANDS)
    for name in main.COMMANDS:
        command = main.cli.get_command(ctx, name)
        assert command is not None and command.help is not None
        assert main.SUMMARIES[name] == command.help.partition("\n\n")[0], name
        assert not command.hidden and not command.deprecated and command.short_help is None


@pytest.mark.parametrize("width", [None, 50, 200])
def test_top_level_help_lists_commands_as_click_does(width: int | None) -> None:
    ctx = click.Context(main.cli, info_name="metalab", terminal_width=width)
    lazy = click.HelpFormatter(width=width)
    main.cli.format_commands(ctx, lazy)
    eager = click.HelpFormatter(width=width)
    click.Group.format_commands(main.cli, ctx, eager)
    assert lazy.getvalue() == eager.getvalue() != ""


def imported_by_entry(args: list[str], cwd: Path) -> set[str]:
    code = (
        "import sys, json\n"
        "from metalab._cli.entry import main\n"
        f"main({args!r})\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def first_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in ("metalab", "metalab_orchestrator")}


def test_env_list_import_graph(project: Path) -> None:
    imported_by_entry(["env", "list"], project)  # the first run validates and caches
    modules = imported_by_entry(["env", "list"], project)
    assert first_party(modules) <= ENV_LIST_MODULES, first_party(modules) - ENV_LIST_MODULES
    assert not [m for m in modules if m.split(".")[0] in FORBIDDEN]


def test_discover_import_graph(project: Path) -> None:
    write_bundle(project)
    imported_by_entry(["discover"], project)
    modules = imported_by_entry(["discover"], project)
    assert first_party(modules) <= DISCOVER_MODULES, first_party(modules) - DISCOVER_MODULES
    assert not [m for m in modules if m.split(".")[0] in FORBIDDEN]
