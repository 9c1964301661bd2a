"""The SLURM task script is pure text: golden file, hostile paths and values through bash.

Refresh the golden file after an intended change with:
    METALAB_UPDATE_GOLDEN=1 pytest tests/unit/api/test_slurm_task_script.py
"""

from __future__ import annotations

import difflib
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from metalab.core.slurm.commands import (
    array_spec,
    chunks,
    job_name,
    parse_job_id,
    parse_max_array_size,
)
from metalab.executor.slurm import SlurmConfig, render_task_script

GOLDEN = Path(__file__).parent / "golden" / "task_script.sh"

CONFIG = SlurmConfig(
    partition="gpu",
    time="4:00:00",
    cpus=2,
    memory="16G",
    max_concurrent=2,
    modules=["cuda/12.1", "python/3.11"],
    conda_env="my env",
    setup=["export OMP_NUM_THREADS=2"],
    extra_sbatch={"account": "lab", "mail_user": "me@example.org"},
)
ENV = {"JAVA_HOME": "/opt/java", "WANDB_MODE": "offline"}
WEIRD = "/tmp/we ird/it's \"q\"/'; echo x/new\nline $HOME `id`"


def render(
    config: SlurmConfig = CONFIG,
    batch_dir: str = "/shared/exp/slurm/20260101-000000-abcdef",
    env: Mapping[str, str] = ENV,
) -> str:
    return render_task_script(
        config, job_name("sweep"), array_spec(200, 2), Path(batch_dir), 1000, env
    )


def test_script_matches_golden_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/opt/venv/bin/python")
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
    assert render() == render()


def test_the_default_partition_is_the_clusters_own() -> None:
    assert "--partition" not in render(SlurmConfig())
    assert "#SBATCH --partition=gpu\n" in render()


def fake_python(tmp_path: Path, body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    python = tmp_path / "py th'on"
    python.write_text(f"#!/bin/bash\n{body}\n")
    python.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(python))


def test_weird_paths_reach_python_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "argv.txt"
    fake_python(tmp_path, f"printf '%s\\0' \"$@\" > {shlex.quote(str(record))}", monkeypatch)
    script = render(SlurmConfig(), batch_dir=WEIRD, env={})
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    env = {**os.environ, "SLURM_ARRAY_TASK_ID": "7"}
    proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "x" not in proc.stdout
    argv = record.read_text().split("\0")[:-1]
    assert argv == ["-m", "metalab.executor.slurm_task", str(Path(WEIRD)), "1000", "7"]


def test_env_values_reach_the_task_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dump = tmp_path / "env.txt"
    fake_python(
        tmp_path,
        f'printf \'%s\\0\' "$ML_WEIRD" "$ML_PLAIN" "$METALAB_WORKER" > {shlex.quote(str(dump))}',
        monkeypatch,
    )
    config = SlurmConfig(setup=['[ "$ML_PLAIN" = plain ]'])  # exported before setup
    script = render(config, env={"ML_WEIRD": WEIRD, "ML_PLAIN": "plain"})
    proc = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "SLURM_ARRAY_TASK_ID": "0"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "x" not in proc.stdout
    assert dump.read_text().split("\0")[:-1] == [WEIRD, "plain", "1"]


@pytest.mark.parametrize("name", ["1X", "A-B", "A B", "X;id", ""])
def test_bad_env_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not an environment variable name"):
        render(env={name: "v"})


def test_hostile_job_names_are_sanitised() -> None:
    assert job_name("a b;rm -rf") == "metalab-a_b_rm_-rf"


def test_array_specs_and_chunks() -> None:
    assert array_spec(1, None) == "0"
    assert array_spec(200, None) == "0-199"
    assert array_spec(200, 2) == "0-199%2"
    with pytest.raises(ValueError):
        array_spec(0, None)
    parts = chunks(2500, 1001)
    assert [(c.start, c.count) for c in parts] == [(0, 1001), (1001, 1001), (2002, 498)]
    assert sum(c.count for c in chunks(10_000, 1001)) == 10_000


def test_scheduler_output_parsers() -> None:
    assert parse_job_id("123\n") == "123"
    assert parse_job_id("456;cluster\n") == "456"
    with pytest.raises(ValueError):
        parse_job_id("Submitted batch job 5")
    assert parse_max_array_size("MaxJobCount = 10000\nMaxArraySize           = 4001\n") == 4001
    assert parse_max_array_size("nothing here") == 1001
