import dataclasses
from dataclasses import dataclass

import pytest

from metalab._sdk import legacy as metalab
from metalab._sweep.config import SlurmExecutorConfig, executor_from_config
from metalab._sweep.local import ProcessExecutor
from metalab._sweep.registry import register_executor, unregister_executor
from metalab._sweep.slurm import SlurmExecutor
from metalab.errors import ConfigError

SEED_TABLE = {
    "partition": "default",
    "time": "1:00:00",
    "cpus": 1,
    "memory": "4G",
    "gpus": 0,
    "max_concurrent": None,
    "modules": [],
    "conda_env": None,
    "setup": [],
}


def test_slurm_defaults_are_the_seed_table():
    executor = executor_from_config("slurm", {})
    assert isinstance(executor, SlurmExecutor)
    settings = dataclasses.asdict(executor.config)
    assert {k: settings[k] for k in SEED_TABLE} == SEED_TABLE


def test_every_seed_field_is_accepted():
    values = {
        "partition": "gpu",
        "time": "2:00:00",
        "cpus": 4,
        "memory": "16G",
        "gpus": 1,
        "max_concurrent": 10,
        "modules": ["cuda/12"],
        "conda_env": "ml",
        "setup": ["export X=1"],
    }
    config = executor_from_config("slurm", values).config
    assert {k: getattr(config, k) for k in values} == values


def test_seed_module_path_works():
    from metalab._sweep.config import executor_from_config as imported

    assert imported is metalab.executor_from_config


def test_local_workers():
    assert executor_from_config("local", {"workers": 1}) is None
    assert executor_from_config("local", {}) is None
    pool = executor_from_config("local", {"workers": 4})
    assert isinstance(pool, ProcessExecutor) and pool.config.workers == 4


@pytest.mark.parametrize(
    "kind,settings,match",
    [
        ("slurm", {"gpu": 1}, "unknown field 'gpu'.*did you mean 'gpus'"),
        ("slurm", {"partiton": "x"}, "did you mean 'partition'"),
        ("local", {"worker": 2}, "did you mean 'workers'"),
        ("slurm", {"cpus": "4"}, "expected int"),
        ("slurm", {"cpus": True}, "expected int"),
        ("slurm", {"modules": "cuda"}, "expected a list of str"),
        ("slurm", {"time": "soon"}, "invalid value 'soon'"),
        ("slurm", {"memory": "lots"}, "invalid value"),
        ("slurm", {"partition": "a b"}, "invalid value"),
        ("slurm", {"max_concurrent": 0}, "must be >= 1"),
        ("slurm", {"setup": ["a\nb"]}, "newline"),
        ("slurm", {"sbatch_args": ["-x"]}, "long option"),
        ("local", {"workers": 0}, "must be >= 1"),
        ("slrum", {}, "unknown executor type 'slrum'.*did you mean 'slurm'"),
    ],
)
def test_bad_settings_are_clear_config_errors(kind, settings, match):
    with pytest.raises(ConfigError, match=match):
        executor_from_config(kind, settings)


def test_unknown_field_error_names_the_field_as_key():
    with pytest.raises(ConfigError) as info:
        executor_from_config("slurm", {"gpu": 1})
    assert info.value.key == "gpu"


@dataclass(frozen=True)
class EchoConfig:
    shout: bool = False


class EchoExecutor:
    type_name = "echo"

    def __init__(self, config):
        self.config = config


def test_a_third_type_registers_without_touching_core():
    register_executor("echo", EchoConfig, EchoExecutor)
    try:
        executor = metalab.resolve_executor("echo", {"shout": True})
        assert isinstance(executor, EchoExecutor) and executor.config.shout is True
        with pytest.raises(ConfigError, match="did you mean 'shout'"):
            executor_from_config("echo", {"shoot": True})
        with pytest.raises(ConfigError, match="already registered"):
            register_executor("echo", EchoConfig, EchoExecutor)
    finally:
        unregister_executor("echo")


def test_resolve_executor_works_without_config():
    executor = metalab.resolve_executor("slurm", {"gpus": 1})
    assert executor.config.gpus == 1 and executor.config.partition == "default"


TOML = """
[project]
name = "p"
default_env = "cluster"

[environments.cluster]
type = "slurm"
gateway = "hpc.example"
partition = "cpu2019"
time = "1-00:00:00"
memory = "1G"
modules = ["python/3.11"]

[environments.local]
type = "local"
workers = 3
"""


def test_resolve_executor_merges_profile_defaults_and_overrides(clean_environ):
    (clean_environ / ".metalab.toml").write_text(TOML)
    (clean_environ / ".metalab.local.toml").write_text(
        '[environments.cluster]\nconda_env = "mine"\n'
    )
    sub = clean_environ / "deep" / "dir"
    sub.mkdir(parents=True)
    executor = metalab.resolve_executor("slurm", {"gpus": 1, "time": "4:00:00"}, start_dir=sub)
    c = executor.config
    assert (c.partition, c.memory, c.time, c.gpus, c.modules, c.conda_env) == (
        "cpu2019",
        "1G",
        "4:00:00",
        1,
        ["python/3.11"],
        "mine",
    )
    local = metalab.resolve_executor("local", {}, start_dir=sub)
    assert isinstance(local, ProcessExecutor) and local.config.workers == 3
    assert metalab.resolve_executor("local", {"workers": 1}, start_dir=sub) is None


def test_resolve_executor_rejects_unknown_override(clean_environ):
    (clean_environ / ".metalab.toml").write_text(TOML)
    with pytest.raises(ConfigError, match="did you mean 'memory'"):
        metalab.resolve_executor("slurm", {"memroy": "2G"})


def test_config_class_is_frozen_and_typed():
    with pytest.raises(dataclasses.FrozenInstanceError):
        SlurmExecutorConfig().cpus = 3  # type: ignore[misc]
