"""SLURM commands: quoting, job arrays, argv builders for ``sbatch``, ``scancel``,
``scontrol`` and ``sinfo``, and parsers of their output. No I/O, no clock, no environment
reads. ``squeue`` has its own module (`metalab.core.slurm.squeue`)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

JOB_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_CTLD_HOST = re.compile(r"^\s*SlurmctldHost\[\d+\]\s*=\s*([^\s(]+)(?:\(([^)]+)\))?", re.MULTILINE)
SCONTROL_CONFIG = ("scontrol", "show", "config")


def q(value: object) -> str:
    """The one quoting helper: every value that reaches a batch script goes through here
    (sbatch reads ``#SBATCH`` lines with shell quoting rules, so directives too)."""
    return shlex.quote(str(value))


def slurm_filename(path: str) -> str:
    """Escape ``%`` so SLURM's filename patterns leave a literal path alone."""
    return path.replace("%", "%%")


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


def sbatch_argv(
    script_path: str | None = None,
    *,
    output_pattern: str | None = None,
    dependency: str | None = None,
) -> list[str]:
    """``sbatch --parsable [--output=…] [--dependency=…] [SCRIPT]`` (no script: it is read
    from standard input); no shell involved."""
    argv = ["sbatch", "--parsable"]
    if output_pattern is not None:
        argv.append(f"--output={output_pattern}")
    if dependency:
        argv.append(f"--dependency={dependency}")
    if script_path is not None:
        argv.append(script_path)
    return argv


def scancel_argv(job_ids: Sequence[str]) -> list[str]:
    return ["scancel", *job_ids]


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


def parse_controller_hosts(scontrol_config: str) -> list[str]:
    """The controllers' addresses (or names) from ``scontrol show config``."""
    return [addr or name for name, addr in _CTLD_HOST.findall(scontrol_config)]


def sinfo_node_argv(node: str, output_format: str) -> list[str]:
    """``sinfo`` of one node, one line per node in ``output_format``."""
    return ["sinfo", "-h", "-N", "-n", node, "-o", output_format]
