"""Config resolution: merge order, selection priority, and every bad-input class."""

from __future__ import annotations

from pathlib import Path

import pytest

from metalab._config.resolve import load_project, resolve_environment, select_environment
from metalab.errors import ConfigError

BASE = """
[project]
name = "demo"
default_env = "slurm"

[services.postgres]
database = "base_db"
port = 5001

[services.atlas]
port = 8000

[environments.local]
type = "local"
file_root = "./runs"

[environments.slurm]
type = "slurm"
partition = "base-part"
time = "1:00:00"
memory = "1G"

[environments.slurm.services.postgres]
port = 5002
"""

LOCAL = """
[environments.slurm]
memory = "2G"

[services.postgres]
port = 5003
password = "hunter2"
"""


def write(directory: Path, base: str = BASE, local: str | None = LOCAL) -> Path:
    (directory / ".metalab.toml").write_text(base)
    if local is not None:
        (directory / ".metalab.local.toml").write_text(local)
    return directory


def test_merge_order_base_profile_local_flag_env(tmp_path: Path) -> None:
    project = load_project(write(tmp_path))
    env = resolve_environment(
        project,
        None,
        overrides=["time=2:00:00", "services.atlas.port=8001"],
        environ={"METALAB__SERVICES__ATLAS__PORT": "8002"},
    )
    assert env.name == "slurm"
    assert env.services["postgres"]["database"] == "base_db"  # base
    assert env.services["postgres"]["port"] == 5003  # local beats profile (5002) and base
    assert env.settings["partition"] == "base-part"  # profile
    assert env.settings["memory"] == "2G"  # local beats profile
    assert env.settings["time"] == "2:00:00"  # flag beats profile
    assert env.services["atlas"]["port"] == 8002  # env var beats flag
    assert env.origins["services.postgres.database"] == "base"
    assert env.origins["partition"] == "profile"
    assert env.origins["memory"] == "local"
    assert env.origins["time"] == "flag"
    assert env.origins["services.atlas.port"] == "env var"


def test_profile_services_override_base(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, local=None))
    env = resolve_environment(project, "slurm", environ={})
    assert env.services["postgres"]["port"] == 5002
    assert env.origins["services.postgres.port"] == "profile"


def test_selection_priority(tmp_path: Path) -> None:
    project = load_project(write(tmp_path))
    assert select_environment(project, "local", {"METALAB_ENV": "slurm"}).name == "local"
    assert select_environment(project, None, {"METALAB_ENV": "local"}).source == "METALAB_ENV"
    chosen = select_environment(project, None, {})
    assert (chosen.name, chosen.source) == ("slurm", "default_env")
    no_default = load_project(write(tmp_path, BASE.replace('default_env = "slurm"', "")))
    assert select_environment(no_default, None, {}).source == "implicit"


def test_no_config_file_uses_defaults_and_overrides(tmp_path: Path) -> None:
    project = load_project(tmp_path)
    env = resolve_environment(project, None, ["file_root=./out"], environ={})
    assert (env.name, env.type) == ("local", "local")
    assert env.file_root == str((tmp_path / "out").resolve())
    assert env.project == tmp_path.name


def test_config_found_from_subdirectory(tmp_path: Path) -> None:
    write(tmp_path)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert load_project(nested).name == "demo"


def test_relative_file_root_resolves_against_project_dir(tmp_path: Path) -> None:
    write(tmp_path)
    nested = tmp_path / "sub"
    nested.mkdir()
    env = resolve_environment(load_project(nested), "local", environ={})
    assert env.file_root == str(tmp_path.resolve() / "runs")


@pytest.mark.parametrize(
    ("base", "local", "file_name", "key", "problem"),
    [
        (
            BASE.replace("partition", "partiton"),
            None,
            ".metalab.toml",
            "environments.slurm.partiton",
            "did you mean 'partition'",
        ),
        (
            BASE,
            "[environments.slurm]\nmemroy = 1\n",
            ".metalab.local.toml",
            "environments.slurm.memroy",
            "did you mean 'memory'",
        ),
        (
            BASE.replace('time = "1:00:00"', "time = 5"),
            None,
            ".metalab.toml",
            "environments.slurm.time",
            "valid string",
        ),
        (
            BASE.replace('type = "slurm"', 'type = "kubernetes"'),
            None,
            ".metalab.toml",
            "environments.slurm.type",
            "unknown environment type 'kubernetes'",
        ),
        (
            BASE.replace('default_env = "slurm"', 'default_env = "nope"'),
            None,
            ".metalab.toml",
            "project.default_env",
            "no environment named 'nope'",
        ),
        (
            BASE + "\n[services.postgres.extra]\n",
            None,
            ".metalab.toml",
            "services.postgres.extra",
            "unknown key",
        ),
        (
            BASE.replace('[environments.local]\ntype = "local"\n', "[environments.local]\n"),
            None,
            ".metalab.toml",
            "environments.local.type",
            "missing",
        ),
        ("[project\nname=1", None, ".metalab.toml", None, "invalid TOML"),
        (
            BASE,
            "[services.postgres]\nauth_method = 'ident'\n",
            ".metalab.local.toml",
            "services.postgres.auth_method",
            "scram-sha-256",
        ),
    ],
)
def test_bad_config_names_file_key_and_problem(
    tmp_path: Path, base: str, local: str | None, file_name: str, key: str | None, problem: str
) -> None:
    write(tmp_path, base, local)
    with pytest.raises(ConfigError) as caught:
        resolve_environment(load_project(tmp_path), None, environ={})
    error = caught.value
    assert error.file == str(tmp_path / file_name)
    assert error.key == key
    assert problem in str(error)
    assert "\n" not in str(error)


def test_unknown_env_flag_lists_available(tmp_path: Path) -> None:
    project = load_project(write(tmp_path))
    with pytest.raises(ConfigError, match=r"available: local, slurm"):
        resolve_environment(project, "gpu", environ={})


@pytest.mark.parametrize(
    ("override", "problem"),
    [("cpus='x'", "valid integer"), ("nonsense", "KEY=VALUE"), ("partiton=a", "partition")],
)
def test_bad_flag_override_names_the_flag(tmp_path: Path, override: str, problem: str) -> None:
    project = load_project(write(tmp_path))
    with pytest.raises(ConfigError) as caught:
        resolve_environment(project, "slurm", [override], environ={})
    assert caught.value.file == f"--set {override}"
    assert problem in str(caught.value)


def test_bad_env_var_override_names_the_variable(tmp_path: Path) -> None:
    project = load_project(write(tmp_path))
    with pytest.raises(ConfigError) as caught:
        resolve_environment(project, "slurm", environ={"METALAB__CPUS": "many"})
    assert caught.value.file == "METALAB__CPUS"


def test_non_utf8_config(tmp_path: Path) -> None:
    (tmp_path / ".metalab.toml").write_bytes(b"name = '\xff'")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_project(tmp_path)


def test_validation_is_cached_by_content(tmp_path: Path) -> None:
    write(tmp_path)
    load_project(tmp_path)
    from metalab._config import validate

    cached = list(validate._cache_dir().iterdir())
    assert len(cached) == 1
    (tmp_path / ".metalab.local.toml").write_text("[environments.slurm]\nbogus = 1\n")
    with pytest.raises(ConfigError, match="bogus"):
        load_project(tmp_path)


def test_env_var_never_declares_a_service(tmp_path: Path) -> None:
    (tmp_path / ".metalab.toml").write_text('[environments.local]\ntype = "local"\n')
    env = resolve_environment(
        load_project(tmp_path), None, environ={"METALAB__SERVICES__POSTGRES__RUN_AS": "x"}
    )
    assert "postgres" not in env.services
    flagged = resolve_environment(load_project(tmp_path), None, ["services.postgres.port=1"], {})
    assert flagged.services["postgres"] == {"port": 1}
