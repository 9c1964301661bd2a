"""The batch script: a pure function of a plan (no I/O, no clock, no environment reads).

Every value that reaches the script goes through :func:`q` (``shlex.quote``). sbatch reads
``#SBATCH`` lines with shell quoting rules, so one helper serves directives and body alike; a
directive cannot span lines, so a value with a control character is refused (``ConfigError``).
User ``setup`` lines are shell on purpose and are copied verbatim, each on its own line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from metalab.core.errors import ConfigError
from metalab.core.slurm.commands import q

JOB_MODULE = "metalab_orchestrator.backends.slurm.job"
SIGNAL_LEAD_MIN, SIGNAL_LEAD_MAX = 30, 300
_WALLTIME = re.compile(
    r"^(?:(?P<d>\d+)-(?P<dh>\d+)(?::(?P<dm>\d+)(?::(?P<ds>\d+))?)?"
    r"|(?P<a>\d+)(?::(?P<b>\d+)(?::(?P<c>\d+))?)?)$"
)


def walltime_seconds(value: str) -> int:
    """SLURM ``--time`` formats (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) in seconds."""
    match = _WALLTIME.match(value.strip())
    if match is None:
        raise ConfigError(
            f"{value!r} is not a SLURM time (e.g. 1:00:00 or 1-00:00:00)", key="environments.*.time"
        )
    g = {k: int(v) for k, v in match.groupdict().items() if v is not None}
    if "d" in g:
        return g["d"] * 86400 + g["dh"] * 3600 + g.get("dm", 0) * 60 + g.get("ds", 0)
    if "c" in g:
        return g["a"] * 3600 + g["b"] * 60 + g["c"]
    if "b" in g:
        return g["a"] * 60 + g["b"]
    return g["a"] * 60


def signal_lead(walltime: int) -> int:
    """Seconds before the walltime at which the job is told to stop (a tenth, 30 s to 5 min)."""
    return max(SIGNAL_LEAD_MIN, min(SIGNAL_LEAD_MAX, walltime // 10))


@dataclass(frozen=True)
class SlurmPlan:
    """Everything the batch script says; built by the backend, rendered by ``render_sbatch``."""

    job_name: str
    output: str  # job output file, a SLURM filename pattern (e.g. .../job-%j.out)
    workdir: str
    time: str
    python: str
    job_args: tuple[str, ...]
    partition: str | None = None
    memory: str | None = None
    cpus: int = 1
    gpus: int = 0
    account: str | None = None
    qos: str | None = None
    sbatch_args: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    conda_env: str | None = None
    setup: tuple[str, ...] = field(default_factory=tuple)

    def directives(self) -> list[tuple[str, str]]:
        """(option, value) pairs in script order; ``value`` empty for a bare flag."""
        lead = signal_lead(walltime_seconds(self.time))
        pairs = [
            ("--job-name", self.job_name),
            ("--output", self.output),
            ("--chdir", self.workdir),
            ("--time", self.time),
            ("--signal", f"B:USR1@{lead}"),
            ("--nodes", "1"),
            ("--ntasks", "1"),
            ("--cpus-per-task", str(self.cpus)),
            ("--export", "NONE"),
        ]
        optional = [
            ("--partition", self.partition),
            ("--mem", self.memory),
            ("--account", self.account),
            ("--qos", self.qos),
            ("--gpus", str(self.gpus) if self.gpus else None),
        ]
        pairs.extend((k, v) for k, v in optional if v)
        return pairs


def _directive(option: str, value: str) -> str:
    return f"#SBATCH {option}={q(value)}" if value else f"#SBATCH {option}"


def _one_line(value: str, what: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise ConfigError(f"{value!r} contains a control character (newline?)", key=what)
    return value


def render_sbatch(plan: SlurmPlan) -> str:
    """The batch script for ``plan``."""
    lines = ["#!/bin/bash", "# Written by metalab: runs this environment's services."]
    for option, value in plan.directives():
        lines.append(_directive(option, _one_line(value, option.lstrip("-"))))
    for extra in plan.sbatch_args:
        _one_line(extra, "sbatch_args")
        if not extra.startswith("-"):
            raise ConfigError(f"{extra!r} is not an sbatch option", key="sbatch_args")
        lines.append(f"#SBATCH {q(extra)}")
    # umask 022: directories must stay traversable for a run_as account; every secret file
    # is created 0600 explicitly.
    lines += ["", "set -e", "umask 022"]
    for module in plan.modules:
        lines.append(f"module load {q(module)}")
    if plan.conda_env:
        lines.append('eval "$(conda shell.bash hook)"')
        lines.append(f"conda activate {q(plan.conda_env)}")
    lines.extend(plan.setup)
    command = [plan.python, "-m", JOB_MODULE, *plan.job_args]
    # exec: the interpreter becomes the batch shell, so B:USR1 and scancel's TERM reach it.
    lines.append("exec " + " ".join(q(part) for part in command))
    return "\n".join(lines) + "\n"
