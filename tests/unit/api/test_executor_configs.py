"""Executor configs, their registry and the handle registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from metalab.executor.config import ExecutorConfigRegistry, executor_from_config, resolve_executor
from metalab.executor.local_config import LocalExecutorConfig
from metalab.executor.process import ProcessExecutor
from metalab.executor.registry import HandleRegistry
from metalab.executor.slurm import SlurmConfig, SlurmExecutor, SlurmRunHandle
from metalab.executor.slurm_config import SlurmExecutorConfig


def test_built_in_types() -> None:
    assert {"local", "slurm"} <= set(ExecutorConfigRegistry.types())
    assert ExecutorConfigRegistry.get("local") is LocalExecutorConfig
    assert ExecutorConfigRegistry.get("nope") is None
    assert HandleRegistry.get("slurm") is SlurmRunHandle
    assert HandleRegistry.get("local") is None


def test_local_config() -> None:
    assert executor_from_config("local") is None
    executor = executor_from_config("local", {"workers": 3})
    assert isinstance(executor, ProcessExecutor)
    executor.shutdown()


def test_unknown_type_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Unknown executor type: 'cloud'"):
        executor_from_config("cloud", {})
    with pytest.raises(ValueError, match="Unknown executor type"):
        resolve_executor("cloud")


def test_resolve_executor_uses_overrides() -> None:
    assert resolve_executor("local", {"workers": 1}) is None


def test_slurm_config_maps_to_the_executor() -> None:
    config = SlurmExecutorConfig.from_dict(
        {
            "partition": "gpu",
            "gpus": 2,
            "modules": "cuda",
            "mail_type": "END",
            "extra_sbatch": {"account": "lab"},
            "bogus": 1,
        }
    )
    executor = config.create()
    assert isinstance(executor, SlurmExecutor)
    assert executor.config == SlurmConfig(
        partition="gpu",
        gpus=2,
        modules=["cuda"],
        extra_sbatch={"account": "lab", "mail_type": "END"},
    )


@pytest.mark.parametrize("field", ["cpus", "chunk_size", "max_array_size"])
def test_slurm_config_rejects_non_positive_counts(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SlurmConfig(**{field: 0})  # type: ignore[arg-type]


def test_resolve_executor_merges_project_profile_and_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("METALAB")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / ".metalab.toml").write_text(
        '[environments.cluster]\ntype = "slurm"\npartition = "long"\ntime = "2:00:00"\n'
    )
    monkeypatch.chdir(tmp_path)
    executor = resolve_executor("slurm", {"time": "0:10:00"})
    assert isinstance(executor, SlurmExecutor)
    assert (executor.config.partition, executor.config.time) == ("long", "0:10:00")
