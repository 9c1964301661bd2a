"""Experiment YAML files load into the same upstream-API objects, or fail naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

import metalab
from metalab.errors import ConfigError
from metalab.experiment_config import load_experiment_config
from metalab.params import GridSource, ManualSource, RandomSource
from tests.unit.api import ops

GOOD = """
name: sweep
version: "2.0"
operation: "tests.unit.api.ops:double"
context: {dataset: toy}
params:
  grid: {x: [1, 2], depth: [2, 4]}
seeds: {base: 7, replicates: 3}
store: discover
executor:
  type: slurm
  time: "4:00:00"
  modules: python/3.11
  mail_user: me@example.org
"""


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_ids(exp: metalab.Experiment) -> list[str]:
    from metalab._canonical import fingerprint
    from metalab._ids import resolve_context
    from metalab.runner import _plan_runs

    context_fp = fingerprint(resolve_context(exp.context)[0])
    return [run_id for run_id, *_ in _plan_runs(exp, context_fp)]


def test_a_good_file_is_the_experiment_written_in_python(tmp_path: Path) -> None:
    cfg = load_experiment_config(write(tmp_path, GOOD))
    exp = cfg.experiment
    assert (exp.experiment_id, exp.context) == ("sweep:2.0", {"dataset": "toy"})
    assert isinstance(exp.params, GridSource)
    assert cfg.store == "discover"
    assert cfg.executor_type == "slurm"
    same = metalab.Experiment(
        name="sweep",
        version="2.0",
        context={"dataset": "toy"},
        operation=ops.double,
        params=metalab.grid(x=[1, 2], depth=[2, 4]),
        seeds=metalab.seeds(base=7, replicates=3),
    )
    assert run_ids(exp) == run_ids(same) and len(run_ids(exp)) == 12
    executor = cfg.make_executor()
    assert isinstance(executor, metalab.SlurmExecutor)
    assert executor.config.time == "4:00:00" and executor.config.modules == ["python/3.11"]
    assert executor.config.extra_sbatch == {"mail_user": "me@example.org"}


def test_random_and_manual_sources_and_defaults(tmp_path: Path) -> None:
    cfg = load_experiment_config(
        write(
            tmp_path,
            """
name: r
operation: "tests.unit.api.ops:double"
params:
  random:
    n_trials: 5
    seed: 3
    space:
      lr: {loguniform: [0.0001, 0.1]}
      depth: [2, 4]
      w: {randint: [1, 3]}
      k: {loguniform_int: [1, 64]}
      c: 7
""",
        )
    )
    assert isinstance(cfg.experiment.params, RandomSource)
    assert cfg.experiment.version == "1" and len(run_ids(cfg.experiment)) == 5
    assert cfg.executor_type is None and cfg.make_executor() is None
    cfg = load_experiment_config(
        write(
            tmp_path,
            "name: m\noperation: tests.unit.api.ops:double\n"
            "params: {manual: [{x: 1}, {x: 2}]}\nseeds: 2\nexecutor: local\n",
        )
    )
    assert isinstance(cfg.experiment.params, ManualSource)
    assert len(run_ids(cfg.experiment)) == 4
    assert cfg.make_executor() is None  # local with one worker: in-process


def test_run_uses_the_files_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METALAB_SETTINGS", str(tmp_path / "none.yaml"))
    text = "name: f\noperation: tests.unit.api.ops:double\nparams: {grid: {x: [1, 2]}}\n"
    text += f"store: {tmp_path / 'store'}\n"
    results = load_experiment_config(write(tmp_path, text)).run(verbose=False).result()
    assert sorted(run.metrics["y"] for run in results) == [2, 4]
    assert (tmp_path / "store" / "f_1" / "runs").is_dir()


BASE = "name: x\noperation: tests.unit.api.ops:double\n"


@pytest.mark.parametrize(
    ("text", "key", "match"),
    [
        (BASE + "parms: {}\n", "parms", "did you mean 'params'"),
        ("operation: m:f\n", "name", "required"),
        ("name: x\n", "operation", "required"),
        (BASE + "seeds: 0\n", "seeds", ">= 1"),
        (BASE + "seeds: {base: 1, replicate: 2}\n", "seeds.replicate", "did you mean"),
        (BASE + "params: {grid: {lr: 3}}\n", "params.grid.lr", "list"),
        (BASE + "params: {grid: {}, manual: []}\n", "params", "exactly one"),
        (BASE + "params: {gird: {a: [1]}}\n", "params", "did you mean 'grid'"),
        (BASE + "params: {manual: [1]}\n", "params.manual[0]", "mapping"),
        (
            BASE + "params: {random: {n_trials: 0, space: {a: [1]}}}\n",
            "params.random.n_trials",
            ">= 1",
        ),
        (
            BASE + "params: {random: {n_trials: 2, space: {a: {normal: [0, 1]}}}}\n",
            "params.random.space.a",
            "must be one of",
        ),
        (
            BASE + "params: {random: {n_trials: 2, space: {a: {loguniform: [0, 1]}}}}\n",
            "params.random.space.a",
            "positive bounds",
        ),
        (
            BASE + "params: {random: {n_trials: 2, seeds: 1, space: {a: [1]}}}\n",
            "params.random.seeds",
            "did you mean 'seed'",
        ),
        (BASE + "executor: {type: slurm, cpu: 1}\n", "executor.cpu", "did you mean 'cpus'"),
        (BASE + "executor: {type: slurmm}\n", "executor.type", "did you mean 'slurm'"),
        (BASE + "executor: {cpus: 1}\n", "executor.type", "required"),
        (BASE + "executor: {type: slurm, time: soon}\n", "executor.time", "invalid value"),
        (BASE + "executor: {type: slurm, cpus: many}\n", "executor.cpus", "integer"),
        (BASE + "store: 5\n", "store", "locator"),
        ("name: x\noperation: nocolon\n", "operation", "module:function"),
        ("name: x\noperation: tests.unit.api.ops:nothing\n", "operation", "cannot import"),
        ("name: x\noperation: tests.unit.api.ops:doubled_twice\n", "operation", "@metalab"),
    ],
)
def test_bad_files_name_the_file_and_key(
    tmp_path: Path, text: str, key: str | None, match: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_experiment_config(path)
    assert isinstance(info.value, ValueError)
    assert info.value.file == str(path)
    assert info.value.key == key
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [("name: [unclosed\n", "invalid YAML at line"), ("- a\n- b\n", "mapping"), ("", "mapping")],
)
def test_unparseable_files(tmp_path: Path, text: str, match: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_experiment_config(path)
    assert info.value.file == str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_experiment_config(tmp_path / "nope.yaml")
