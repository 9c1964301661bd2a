from pathlib import Path

import pytest

from metalab._sdk import legacy as metalab
from metalab._sdk.params import Grid, ParamList, RandomSearch
from metalab.errors import ConfigError

GOOD = """
name: sweep
operation: "tests.unit.sdk.ops:train"
params:
  grid: {lr: [0.001, 0.01], depth: [2, 4]}
seeds: 3
store: discover
executor:
  type: slurm
  gpus: 1
  time: "4:00:00"
"""


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_file_loads_into_the_same_objects(tmp_path):
    cfg = metalab.load_experiment_config(write(tmp_path, GOOD))
    assert cfg.experiment.name == "sweep" and isinstance(cfg.experiment.params, Grid)
    assert len(cfg.experiment.runs()) == 12
    assert cfg.store == "discover"
    assert (cfg.executor_type, cfg.executor_settings) == ("slurm", {"gpus": 1, "time": "4:00:00"})
    executor = cfg.make_executor()
    assert executor.config.gpus == 1 and executor.config.time == "4:00:00"
    from tests.unit.sdk import ops

    same = metalab.Experiment(
        "sweep", ops.train, params=metalab.grid(lr=[0.001, 0.01], depth=[2, 4]), seeds=3
    )
    assert [r.run_id for r in same.runs()] == [r.run_id for r in cfg.experiment.runs()]


def test_random_and_list_sources(tmp_path):
    cfg = metalab.load_experiment_config(
        write(
            tmp_path,
            """
name: r
operation: "m:f"
params:
  random:
    n: 5
    seed: 3
    space: {lr: {loguniform: [0.0001, 0.1]}, depth: [2, 4], w: {randint: [1, 3]}, c: 7}
""",
        )
    )
    assert isinstance(cfg.experiment.params, RandomSearch) and len(cfg.experiment.runs()) == 5
    assert cfg.executor_type is None and cfg.make_executor() is None
    cfg = metalab.load_experiment_config(
        write(
            tmp_path,
            """
name: l
operation: "m:f"
params: {list: [{a: 1}, {a: 2}]}
seeds: [1, 2]
""",
        )
    )
    assert isinstance(cfg.experiment.params, ParamList) and len(cfg.experiment.runs()) == 4


@pytest.mark.parametrize(
    "text,key,match",
    [
        ("name: x\noperation: m:f\nparms: {}\n", "parms", "did you mean 'params'"),
        ("operation: m:f\n", "name", "required"),
        ("name: x\n", "operation", "required"),
        ("name: 'a b'\noperation: m:f\n", "name", "experiment name"),
        ("name: x\noperation: m:f\nseeds: 0\n", "seeds", ">= 1"),
        ("name: x\noperation: m:f\nparams: {grid: {lr: 3}}\n", "params.grid.lr", "list"),
        ("name: x\noperation: m:f\nparams: {grid: {}, list: []}\n", "params", "exactly one"),
        ("name: x\noperation: m:f\nparams: {sobol: {}}\n", "params", "unknown parameter source"),
        ("name: x\noperation: m:f\nparams: {list: [1]}\n", "params.list[0]", "mapping"),
        (
            "name: x\noperation: m:f\nparams: {random: {n: 0, space: {a: [1]}}}\n",
            "params.random.n",
            ">= 1",
        ),
        (
            "name: x\noperation: m:f\nparams: {random: {n: 2, space: {a: {normal: [0, 1]}}}}\n",
            "params.random.space.a",
            "must be one of",
        ),
        (
            "name: x\noperation: m:f\nparams: {random: {n: 2, space: {a: {loguniform: [0, 1]}}}}\n",
            "params.random.space.a",
            "> 0",
        ),
        (
            "name: x\noperation: m:f\nparams: {random: {n: 2, seeds: 1, space: {a: [1]}}}\n",
            "params.random.seeds",
            "did you mean 'seed'",
        ),
        (
            "name: x\noperation: m:f\nexecutor: {type: slurm, gpu: 1}\n",
            "executor.gpu",
            "did you mean 'gpus'",
        ),
        (
            "name: x\noperation: m:f\nexecutor: {type: slurmm}\n",
            "executor.type",
            "unknown executor",
        ),
        ("name: x\noperation: m:f\nexecutor: {gpus: 1}\n", "executor.type", "required"),
        (
            "name: x\noperation: m:f\nexecutor: {type: slurm, time: soon}\n",
            "executor.time",
            "invalid value",
        ),
        ("name: x\noperation: m:f\nstore: 5\n", "store", "locator"),
        ("name: x\noperation: nocolon\n", None, "module:function"),
    ],
)
def test_bad_files_name_file_and_key(tmp_path, text, key, match):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        metalab.load_experiment_config(path)
    assert info.value.file == str(path)
    if key is not None:
        assert info.value.key == key
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text,match",
    [
        ("name: [unclosed\n", "invalid YAML at line"),
        ("- a\n- b\n", "mapping"),
        ("", "mapping"),
    ],
)
def test_unparseable_files(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        metalab.load_experiment_config(path)
    assert info.value.file == str(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        metalab.load_experiment_config(tmp_path / "nope.yaml")
