"""Loading the settings file: expansion, typed result, and every bad input as one clear line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metalab.errors import ConfigError
from metalab.workspace.settings import load_settings, settings_path

FULL = """
server: {host: 127.0.0.1, port: 7000, token: "${env:TOKEN}"}
env: {JAVA_HOME: /opt/java}
workspaces:
  - id: nlp
    path: ~/experiments/nlp
    env: {VARNAME: VALUE}
    triggers: ["nlp-*", "transformer-?", "exp[abc]"]
    folders:
      - {path: archive/nlp, mode: backup}
      - {path: /slow/nlp, mode: move}
      - {path: /old/jobs, mode: use}
  - id: cluster
    path: /remote/experiments
    ssh: {host: user@cluster, shell_init: "module load python", uv_offline: true,
          python: python3, options: ["-p", "2222"]}
"""


def write(tmp_path: Path, text: str, name: str = "settings.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_full_document_is_typed_and_paths_are_absolute(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKEN", "s3cret")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir("/")
    path = write(tmp_path / "conf", FULL)
    s = load_settings(path)
    assert s.server.token == "s3cret" and s.server.port == 7000
    assert s.env == {"JAVA_HOME": "/opt/java"}
    nlp, cluster = s.workspaces
    assert nlp.path == tmp_path / "home" / "experiments" / "nlp"
    # relative folder paths resolve against the settings file, never the cwd
    assert nlp.folders[0].path == tmp_path / "conf" / "archive" / "nlp"
    assert [f.mode for f in nlp.folders] == ["backup", "move", "use"]
    assert not nlp.is_remote and cluster.is_remote
    assert cluster.path == Path("/remote/experiments")
    assert cluster.ssh is not None and cluster.ssh.options == ("-p", "2222")
    assert cluster.ssh.uv_offline is True


def test_settings_path_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert settings_path() == tmp_path / "xdg" / "metalab" / "settings.yaml"
    monkeypatch.setenv("METALAB_SETTINGS", str(tmp_path / "other.yaml"))
    assert settings_path() == tmp_path / "other.yaml"
    monkeypatch.delenv("METALAB_SETTINGS")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert settings_path() == tmp_path / "h" / ".config" / "metalab" / "settings.yaml"


def test_unset_env_reference_is_an_error_naming_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    path = write(tmp_path, "workspaces:\n  - id: a\n    path: ${env:NOPE_NOT_SET}/x\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: workspaces.0.path: ${{env:NOPE_NOT_SET}} is not set"


def test_env_reference_expands_inside_strings(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOT", "/data")
    s = load_settings(write(tmp_path, "workspaces:\n  - {id: a, path: '${env:ROOT}/exp'}\n"))
    assert s.workspaces[0].path == Path("/data/exp")


BAD = [
    ("", None, "empty settings file"),
    ("# only a comment\n", None, "empty settings file"),
    ("server: [\n", None, "invalid YAML"),
    ("- a\n- b\n", None, "expected a mapping"),
    ("servr: {}\n", "servr", "unknown key (did you mean 'server'?)"),
    ("server: {hots: x}\n", "server.hots", "unknown key (did you mean 'host'?)"),
    ("server: {port: '80'}\n", "server.port", "valid integer"),
    ("server: {port: 70000}\n", "server.port", "less than or equal to 65535"),
    ("env: {A: 1}\n", "env.A", "valid string"),
    ("env: {'BAD NAME': x}\n", "env.BAD NAME", "environment variable names"),
    ("workspaces: {id: a}\n", "workspaces", "valid list"),
    ("workspaces: [{path: /x}]\n", "workspaces.0.id", "required key is missing"),
    ("workspaces: [{id: a}]\n", "workspaces.0.path", "required key is missing"),
    ("workspaces: [{id: '', path: /x}]\n", "workspaces.0.id", "should match pattern"),
    (
        "workspaces: [{id: a, path: /x, trigers: []}]\n",
        "workspaces.0.trigers",
        "did you mean 'triggers'",
    ),
    ("workspaces: [{id: a, path: /x, triggers: nlp-*}]\n", "workspaces.0.triggers", "valid list"),
    (
        "workspaces: [{id: a, path: /x}, {id: a, path: /y}]\n",
        "workspaces.1.id",
        "duplicate workspace id 'a' (also workspaces.0)",
    ),
    (
        "workspaces: [{id: a, path: /x, folders: [{path: /f, mode: copy}]}]\n",
        "workspaces.0.folders.0.mode",
        "'use', 'backup' or 'move'",
    ),
    (
        "workspaces: [{id: a, path: /x, folders: [{path: /x/sub, mode: backup}]}]\n",
        "workspaces.0.folders.0.path",
        "overlaps the workspace path",
    ),
    (
        "workspaces: [{id: a, path: /x, folders: [{path: /f, mode: move}, "
        "{path: /g, mode: move}]}]\n",
        "workspaces.0.folders.1.mode",
        "at most one 'move' folder",
    ),
    (
        "workspaces: [{id: a, path: /x, folders: [{path: /f, mode: backup}, "
        "{path: /f/g, mode: use}]}]\n",
        "workspaces.0.folders.1.path",
        "overlaps folder",
    ),
    (
        "workspaces: [{id: a, path: /x, ssh: {host: h, uv_offline: 'yes'}}]\n",
        "workspaces.0.ssh.uv_offline",
        "valid boolean",
    ),
    (
        "workspaces: [{id: a, path: /x, ssh: {host: -oProxyCommand=x}}]\n",
        "workspaces.0.ssh.host",
        "should match pattern",
    ),
    (
        "workspaces: [{id: a, path: /x, ssh: {host: h, shel_init: x}}]\n",
        "workspaces.0.ssh.shel_init",
        "did you mean 'shell_init'",
    ),
    (
        "workspaces: [{id: a, path: /x, ssh: {host: h, options: '-p 22'}}]\n",
        "workspaces.0.ssh.options",
        "valid list",
    ),
]


@pytest.mark.parametrize(("text", "key", "fragment"), BAD)
def test_bad_settings_give_one_line_naming_file_and_key(tmp_path, text, key, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert info.value.key == key
    assert fragment in message


def test_validation_cache_does_not_skip_plain_checks(tmp_path):
    good = write(tmp_path, "workspaces: [{id: a, path: /x}, {id: b, path: /y}]\n")
    load_settings(good)
    load_settings(good)  # cached: still fine
    bad = write(tmp_path, "workspaces: [{id: a, path: /x}, {id: a, path: /y}]\n", "b.yaml")
    for _ in range(2):  # pydantic accepts it (and caches that); the duplicate check still runs
        with pytest.raises(ConfigError, match="duplicate"):
            load_settings(bad)


def test_unreadable_file(tmp_path):
    path = tmp_path / "dir.yaml"
    path.mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(path)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "server",
                    "env",
                    "workspaces",
                    "id",
                    "path",
                    "mode",
                    "folders",
                    "ssh",
                    "host",
                    "triggers",
                    "port",
                    "token",
                    "options",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=yaml_values)
def test_any_document_loads_or_fails_with_one_line(tmp_path, document):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        s = load_settings(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith(str(path))
        assert exc.exit_code == 2
    else:
        json.dumps([w.id for w in s.workspaces])


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=60))
def test_any_text_loads_or_fails_with_one_line(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    try:
        load_settings(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith(str(path))


def test_env_reference_is_not_expanded_recursively(tmp_path, monkeypatch):
    monkeypatch.setenv("A", "${env:B}")
    monkeypatch.delenv("B", raising=False)
    s = load_settings(write(tmp_path, "env: {X: '${env:A}'}\n"))
    assert s.env == {"X": "${env:B}"}
    assert os.environ["A"] == "${env:B}"
