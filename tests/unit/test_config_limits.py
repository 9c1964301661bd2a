"""Bad config input is one `ConfigError` line (exit 2 in the CLI), never a traceback or a hang:
depth, size, NUL, non-finite numbers, YAML aliases, the validation cache's types, hints."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from metalab._config.resolve import load_project, parse_override
from metalab.errors import ConfigError
from metalab.workspace.settings import load_settings
from tests.helpers import run_cli

LOCAL = '[project]\nname = "p"\n[environments.local]\ntype = "local"\n'


def _project_error(tmp_path: Path, text: str, local: str | None = None) -> str:
    (tmp_path / ".metalab.toml").write_text(text)
    if local is not None:
        (tmp_path / ".metalab.local.toml").write_text(local)
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    return message


TOML_CASES = {
    "arrays 3,000 deep": LOCAL + "file_root = " + "[" * 3000 + "]" * 3000 + "\n",
    "dotted key 3,000 deep": "a" + ".a" * 3000 + " = 1\n",
    "tables 50 deep": "[" + ".".join(["t"] * 50) + "]\n",
    "NUL in file_root": LOCAL + 'file_root = "a\\u0000b"\n',
    "NUL in project.name": '[project]\nname = "a\\u0000b"\n',
    "5 MB project name": '[project]\nname = "' + "n" * 5_000_000 + '"\n',
    "start_timeout = inf": LOCAL + "[services.atlas]\nstart_timeout = inf\n",
    "start_timeout = nan": LOCAL + "[services.postgres]\nstart_timeout = nan\n",
    "a newline in a key": '[project]\n"a\\nb" = 1\n',
    "a 100 KB key": '[project]\n"' + "k" * 100_000 + '" = 1\n',
}


@pytest.mark.parametrize("case", sorted(TOML_CASES))
@pytest.mark.parametrize("where", ["base", "local"])
def test_bad_toml_is_one_line(tmp_path: Path, case: str, where: str) -> None:
    text = TOML_CASES[case]
    if where == "base":
        _project_error(tmp_path, text)
    else:
        message = _project_error(tmp_path, LOCAL, text)
        assert ".metalab.local.toml" in message


def test_the_cli_answers_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / ".metalab.toml").write_text(TOML_CASES["arrays 3,000 deep"])
    result = run_cli("env", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_validation_cache_tells_a_date_from_its_string(tmp_path: Path) -> None:
    (tmp_path / ".metalab.toml").write_text(LOCAL + 'file_root = "1979-05-27"\n')
    load_project(tmp_path)  # valid, and now remembered
    message = _project_error(tmp_path, LOCAL + "file_root = 1979-05-27\n")
    assert "environments.local.file_root" in message


def test_a_non_finite_override_is_refused() -> None:
    with pytest.raises(ConfigError, match="finite"):
        parse_override("services.atlas.start_timeout=inf", "--set")


def _settings_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert time.monotonic() - started < 5.0
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    return message


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


YAML_CASES = {
    "flow lists 5,000 deep": "env: " + "[" * 5000 + "]" * 5000 + "\n",
    "mappings 60 deep": "".join("  " * i + f"k{i}:\n" for i in range(60)) + "  " * 60 + "x\n",
    "alias bomb (9 x 9)": _alias_bomb(),
    "200 aliases": "a: &a 1\nb: [" + ", ".join(["*a"] * 200) + "]\n",
    "a recursive alias": "a: &a [*a]\n",
    "NaN port": "server:\n  port: .nan\n",
    "NUL in a path": 'workspaces:\n  - id: w\n    path: "a\\0b"\n',
    "2 MB file": "env:\n  X: " + "x" * 2_000_000 + "\n",
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_bad_settings_yaml_is_one_line_and_fast(tmp_path: Path, case: str) -> None:
    _settings_error(tmp_path, YAML_CASES[case])


def test_unknown_settings_key_is_named_with_a_hint(tmp_path: Path) -> None:
    message = _settings_error(tmp_path, "workspaces:\n  - id: w\n    pth: /tmp\n")
    assert "workspaces.0.pth: unknown key (did you mean 'path'?)" in message
