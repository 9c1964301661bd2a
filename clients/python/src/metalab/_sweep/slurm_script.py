"""Pure builders for SLURM job arrays: the sbatch script, its argv, array specs and chunks.

No I/O, no clock, no environment reads: every value passes through `q` (``shlex.quote``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from metalab._sweep.config import SlurmExecutorConfig

TASK_MODULE = "metalab._sweep.slurm_task"
JOB_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def q(value: object) -> str:
    """The one quoting helper: every value that reaches the script goes through here."""
    return shlex.quote(str(value))


def job_name(experiment_id: str) -> str:
    return "metalab-" + JOB_NAME_UNSAFE.sub("_", experiment_id)[:100]


def array_spec(count: int, max_concurrent: int | None) -> str:
    """``0-{count-1}`` plus ``%max_concurrent`` when a limit is set."""
    if count < 1:
        raise ValueError("an array needs at least one task")
    spec = f"0-{count - 1}" if count > 1 else "0"
    return f"{spec}%{max_concurrent}" if max_concurrent else spec


@dataclass(frozen=True)
class Chunk:
    start: int  # index of the first run of this array in the sweep
    count: int


def chunks(total: int, max_array_size: int) -> list[Chunk]:
    """Split ``total`` tasks into arrays whose indices stay below ``MaxArraySize``."""
    size = max(1, max_array_size)
    return [Chunk(s, min(size, total - s)) for s in range(0, total, size)]


def render_array_script(
    *,
    config: SlurmExecutorConfig,
    name: str,
    array: str,
    python: str,
    payload_dir: str,
    env: Mapping[str, str] | None = None,
) -> str:
    """The sbatch script for one array: directives, environment setup, then the task runner.

    Paths (payload directory, interpreter) only appear in the body, shell-quoted, so any path
    works; ``--output`` is passed on the sbatch command line (see `sbatch_argv`). ``env`` (the
    settings' and the run's variables) is exported before modules, conda and ``setup``, so
    those can use it; names must be shell identifiers (checked by the settings and `run`).
    """
    directives = [
        ("job-name", name),
        ("array", array),
        ("partition", config.partition),
        ("time", config.time),
        ("cpus-per-task", config.cpus),
        ("mem", config.memory),
        ("ntasks", 1),
    ]
    if config.gpus:
        directives.append(("gres", f"gpu:{config.gpus}"))
    if config.account:
        directives.append(("account", config.account))
    if config.qos:
        directives.append(("qos", config.qos))
    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH --{key}={q(value)}" for key, value in directives]
    lines += [f"#SBATCH {q(arg)}" for arg in config.sbatch_args]
    lines += ["", "set -eo pipefail"]
    for name, value in (env or {}).items():
        if not ENV_NAME.match(name):
            raise ValueError(f"not an environment variable name: {name!r}")
        lines.append(f"export {name}={q(value)}")
    for module in config.modules:
        lines.append(f"module load {q(module)}")
    if config.conda_env:
        lines.append('eval "$(conda shell.bash hook)"')
        lines.append(f"conda activate {q(config.conda_env)}")
    if config.setup:
        lines.append("# setup (from the executor config, verbatim)")
        lines += list(config.setup)
    lines.append(f'exec {q(python)} -m {TASK_MODULE} {q(payload_dir)} "$SLURM_ARRAY_TASK_ID"')
    return "\n".join(lines) + "\n"


def sbatch_argv(script_path: str, output_pattern: str, dependency: str | None = None) -> list[str]:
    """``sbatch --parsable --output=… [--dependency=…] SCRIPT``: no shell involved."""
    argv = ["sbatch", "--parsable", f"--output={output_pattern}"]
    if dependency:
        argv.append(f"--dependency={dependency}")
    argv.append(script_path)
    return argv


def parse_job_id(stdout: str) -> str:
    """``sbatch --parsable`` prints ``JOBID`` or ``JOBID;CLUSTER``."""
    first = stdout.strip().splitlines()[0] if stdout.strip() else ""
    job_id = first.split(";", 1)[0].strip()
    if not job_id.isdigit():
        raise ValueError(f"unexpected sbatch output {stdout!r}")
    return job_id


def parse_max_array_size(scontrol_config: str, default: int = 1001) -> int:
    """``MaxArraySize = 1001`` from ``scontrol show config`` (array indices < that value)."""
    for line in scontrol_config.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "MaxArraySize":
            value = value.strip()
            if value.isdigit() and int(value) > 0:
                return int(value)
    return default


def squeue_argv(job_ids: Sequence[str]) -> list[str]:
    return ["squeue", "--noheader", "--format=%i|%T|%r", f"--jobs={','.join(job_ids)}"]
