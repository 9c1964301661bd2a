"""`metalab.config`: upstream's public API, answered by our resolver (same as the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metalab.config import (
    CONFIG_FILENAME,
    LOCAL_CONFIG_FILENAME,
    EnvironmentProfile,
    ProjectConfig,
    ProjectInfo,
    ResolvedConfig,
    deep_merge,
    find_config_file,
)
from metalab.errors import ConfigError
from tests.helpers import run_cli
from tests.unit.config_examples import FLAT, UPSTREAM, UPSTREAM_LOCAL, write


def test_load_resolves_like_env_show(tmp_path: Path) -> None:
    write(tmp_path, UPSTREAM, UPSTREAM_LOCAL)
    resolved = ProjectConfig.load(tmp_path).resolve()
    assert resolved.env_name == "slurm" and resolved.env_type == "slurm"
    assert resolved.project == ProjectInfo("my-project", "slurm")
    assert resolved.file_root == "/shared/experiments"
    assert resolved.env_config["services"] == {"partition": "my-lab-partition", **_rest()}
    assert resolved.services_resources == {"partition": "my-lab-partition", **_rest()}
    assert resolved.executor_resources["extra_sbatch"]["mail_type"] == "end,fail"
    shown = json.loads(run_cli("env", "show", "--json", "--show-secrets", cwd=tmp_path).stdout)
    assert shown["services"] == resolved.services
    assert shown["executor"] == resolved.executor_resources
    assert resolved.get_service("postgres")["password"] == "my-secret-password"


def _rest() -> dict[str, str]:
    return {"time": "7-00:00:00", "memory": "10G"}


def test_flat_profile_gives_executor_defaults(tmp_path: Path) -> None:
    resolved = ProjectConfig.load(write(tmp_path, FLAT)).resolve("slurm")
    expected = {"partition": "cpu2019", "time": "7-00:00:00", "memory": "10G"}
    assert resolved.executor_resources == expected
    assert resolved.services_resources == expected
    assert resolved.env_config == {"gateway": "hpc.university.edu", **expected}


def test_load_finds_the_file_from_a_subdirectory(tmp_path: Path) -> None:
    write(tmp_path, UPSTREAM)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_config_file(nested) == tmp_path / CONFIG_FILENAME
    assert ProjectConfig.load(nested).list_environments() == ["local", "slurm"]
    assert LOCAL_CONFIG_FILENAME == ".metalab.local.toml"


def test_load_without_a_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"\.metalab\.toml"):
        ProjectConfig.load(tmp_path)


def test_invalid_file_is_a_value_error_naming_file_and_key(tmp_path: Path) -> None:
    write(tmp_path, UPSTREAM, "[environments.slurm.executor]\nmemroy = '1G'\n")
    with pytest.raises(ValueError, match="did you mean 'memory'") as caught:
        ProjectConfig.load(tmp_path)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.file == str(tmp_path / LOCAL_CONFIG_FILENAME)
    assert caught.value.key == "environments.slurm.executor.memroy"


def test_from_dict_validates_and_rejects_unknown_types() -> None:
    with pytest.raises(ValueError, match="unknown environment type 'k8s'"):
        ProjectConfig.from_dict({"environments": {"c": {"type": "k8s"}}})
    with pytest.raises(ValueError, match="unknown key"):
        ProjectConfig.from_dict({}, local_overrides={"services": {"redis": {"port": 1}}})


def test_resolve_errors_are_value_errors() -> None:
    config = ProjectConfig.from_dict({"environments": {"a": {"type": "local"}}})
    with pytest.raises(ValueError, match="No environment specified.*Available environments: a"):
        config.resolve()
    with pytest.raises(ValueError, match="Unknown environment 'b'"):
        config.resolve("b")
    bad_default = ProjectConfig.from_dict(
        {"project": {"default_env": "b"}, "environments": {"a": {"type": "local"}}}
    )
    with pytest.raises(ConfigError) as caught:
        bad_default.resolve()
    assert caught.value.key == "project.default_env"


def test_resolve_reads_files_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METALAB__SERVICES__ATLAS__PORT", "9999")
    monkeypatch.setenv("METALAB_ENV", "local")
    resolved = ProjectConfig.load(write(tmp_path, UPSTREAM)).resolve()
    assert resolved.env_name == "slurm"
    assert resolved.services["atlas"] == {"port": 8000}


def test_fields_and_profiles_follow_upstream() -> None:
    config = ProjectConfig.from_dict(
        {"environments": {"c": {"type": "slurm", "executor": {"gpus": 1}}}},
        local_overrides={"environments": {"c": {"user": "me"}}},
    )
    assert config.environments == {"c": EnvironmentProfile("c", "slurm", {"executor": {"gpus": 1}})}
    resolved = config.resolve("c")
    assert resolved.env_config == {"executor": {"gpus": 1}, "user": "me"}
    assert resolved.project == ProjectInfo("", None)
    assert resolved.file_root is None


def test_built_field_by_field() -> None:
    config = ProjectConfig(
        project=ProjectInfo("p", "dev"),
        environments={"dev": EnvironmentProfile("dev", "local", {"file_root": "./r"})},
        services={"atlas": {"port": 1}},
    )
    resolved = config.resolve()
    assert (resolved.env_name, resolved.file_root, resolved.services) == (
        "dev",
        "./r",
        {"atlas": {"port": 1}},
    )


def test_resolved_config_by_hand() -> None:
    resolved = ResolvedConfig(
        project=ProjectInfo("p"),
        env_name="hpc",
        env_type="slurm",
        env_config={"services": {"partition": "a"}, "executor": {"mail_user": "x@y"}},
        services={},
        file_root=None,
    )
    assert resolved.services_resources == {"partition": "a"}
    assert resolved.executor_resources == {"extra_sbatch": {"mail_user": "x@y"}}
    assert not resolved.has_service("postgres")
    with pytest.raises(KeyError, match=r"No service 'postgres' in config.*\(none\)"):
        resolved.get_service("postgres")


def test_deep_merge_is_pure() -> None:
    base = {"a": {"b": 1, "c": 2}, "d": 1}
    override = {"a": {"b": 3}, "e": {"f": 1}}
    merged = deep_merge(base, override)
    assert merged == {"a": {"b": 3, "c": 2}, "d": 1, "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": 2}, "d": 1}
    assert override == {"a": {"b": 3}, "e": {"f": 1}}
