"""The sbatch script builder is pure: golden file + a shell reading a hostile path.

Refresh the golden file after an intended change with:
    METALAB_UPDATE_GOLDEN=1 pytest tests/unit/sdk/test_slurm_script.py
"""

import difflib
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict, Unpack

import pytest

from metalab._sweep.config import SlurmExecutorConfig
from metalab._sweep.slurm_script import (
    array_spec,
    chunks,
    job_name,
    parse_job_id,
    parse_max_array_size,
    render_array_script,
    sbatch_argv,
    squeue_argv,
)

GOLDEN = Path(__file__).parent / "golden" / "array_script.sh"

CONFIG = SlurmExecutorConfig(
    partition="gpu",
    time="4:00:00",
    cpus=2,
    memory="16G",
    gpus=1,
    max_concurrent=2,
    modules=["cuda/12.1", "python/3.11"],
    conda_env="my env",
    setup=["export OMP_NUM_THREADS=2"],
    account="lab",
    qos="normal",
    sbatch_args=["--constraint=a100"],
)


class RenderArgs(TypedDict, total=False):
    config: SlurmExecutorConfig
    name: str
    array: str
    python: str
    payload_dir: str
    env: Mapping[str, str]


def render(**overrides: Unpack[RenderArgs]) -> str:
    args: RenderArgs = {
        "config": CONFIG,
        "name": job_name("sweep"),
        "array": array_spec(200, 2),
        "python": "/opt/venv/bin/python",
        "payload_dir": "/shared/exp/sweep/.metalab/p0",
        "env": {"JAVA_HOME": "/opt/java", "WANDB_MODE": "offline"},
    }
    merged: RenderArgs = {**args, **overrides}
    return render_array_script(**merged)


def test_script_matches_golden_file():
    text = render()
    if os.environ.get("METALAB_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    expected = GOLDEN.read_text()
    diff = "\n".join(
        difflib.unified_diff(
            expected.splitlines(), text.splitlines(), "golden", "rendered", lineterm=""
        )
    )
    assert text == expected, f"script differs from {GOLDEN}:\n{diff}"


def test_render_is_deterministic():
    assert render() == render()


WEIRD = "/tmp/we ird/it's \"q\"/'; echo x/new\nline $HOME `id`"


def test_weird_paths_reach_python_intact(tmp_path):
    fake_python = tmp_path / "py th'on"
    record = tmp_path / "argv.txt"
    fake_python.write_text(f"#!/bin/bash\nprintf '%s\\0' \"$@\" > {shlex_quote(str(record))}\n")
    fake_python.chmod(0o755)
    config = SlurmExecutorConfig(setup=[], modules=[])
    script = render(config=config, python=str(fake_python), payload_dir=WEIRD)
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "7"}
    proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "x" not in proc.stdout
    argv = record.read_text().split("\0")[:-1]
    assert argv == ["-m", "metalab._sweep.slurm_task", WEIRD, "7"]


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def test_hostile_job_names_are_sanitised():
    assert job_name("a b;rm -rf") == "metalab-a_b_rm_-rf"


def test_array_specs_and_chunks():
    assert array_spec(1, None) == "0"
    assert array_spec(200, None) == "0-199"
    assert array_spec(200, 2) == "0-199%2"
    with pytest.raises(ValueError):
        array_spec(0, None)
    parts = chunks(2500, 1001)
    assert [(c.start, c.count) for c in parts] == [(0, 1001), (1001, 1001), (2002, 498)]
    assert sum(c.count for c in chunks(10_000, 1001)) == 10_000


def test_scheduler_output_parsers():
    assert parse_job_id("123\n") == "123"
    assert parse_job_id("456;cluster\n") == "456"
    with pytest.raises(ValueError):
        parse_job_id("Submitted batch job 5")
    assert parse_max_array_size("MaxJobCount = 10000\nMaxArraySize           = 4001\n") == 4001
    assert parse_max_array_size("nothing here") == 1001


def test_argv_builders_use_no_shell():
    assert sbatch_argv("/p/job.sh", "/p/logs/%A_%a.out", "afterany:5") == [
        "sbatch",
        "--parsable",
        "--output=/p/logs/%A_%a.out",
        "--dependency=afterany:5",
        "/p/job.sh",
    ]
    assert squeue_argv(["1", "2"]) == ["squeue", "--noheader", "--format=%i|%T|%r", "--jobs=1,2"]


def test_env_values_reach_the_job_intact(tmp_path):
    env_dump = tmp_path / "env.txt"
    fake_python = tmp_path / "python"
    fake_python.write_text(
        f'#!/bin/bash\nprintf \'%s\\0\' "$ML_WEIRD" "$ML_PLAIN" > {shlex_quote(str(env_dump))}\n'
    )
    fake_python.chmod(0o755)
    config = SlurmExecutorConfig(setup=['[ "$ML_PLAIN" = plain ]'], modules=[])
    env = {"ML_WEIRD": WEIRD, "ML_PLAIN": "plain"}
    script = render(config=config, python=str(fake_python), env=env)
    proc = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "SLURM_ARRAY_TASK_ID": "0"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "x" not in proc.stdout
    assert env_dump.read_text().split("\0")[:-1] == [WEIRD, "plain"]


@pytest.mark.parametrize("name", ["1X", "A-B", "A B", "X;id", ""])
def test_bad_env_names_are_refused(name):
    with pytest.raises(ValueError, match="not an environment variable name"):
        render(env={name: "v"})
