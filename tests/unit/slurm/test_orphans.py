"""Recognising an environment's services job in squeue's output without its bundle."""

from __future__ import annotations

from metalab_orchestrator.backends.slurm.orphans import environment_jobs

PREFIX = "metalab-p (v2)|x-env-"
WORKDIR = "/scratch/a b|c/services/slurm"
NONCE = "0123456789abcdef"


def test_only_this_environments_active_jobs_are_found() -> None:
    lines = [
        f"11|RUNNING|{PREFIX}{NONCE}|{WORKDIR}",  # ours
        f"12|PENDING|{PREFIX}{NONCE}|{WORKDIR}",  # ours, queued
        f"13|COMPLETED|{PREFIX}{NONCE}|{WORKDIR}",  # final
        f"14|RUNNING|{PREFIX}{NONCE}|/scratch/other/services/slurm",  # same name, other project
        f"15|RUNNING|{PREFIX}{NONCE}|{WORKDIR}/sub",  # another directory
        f"16|RUNNING|my-analysis|{WORKDIR}",  # the user's own job in that directory
        f"17|RUNNING|{PREFIX}{NONCE}x|{WORKDIR}",  # not a nonce
        f"18|RUNNING|{PREFIX}extra-{NONCE}|{WORKDIR}",  # another environment (env-extra)
        f"x|RUNNING|{PREFIX}{NONCE}|{WORKDIR}",
        "",
    ]
    assert environment_jobs("\n".join(lines), PREFIX, WORKDIR) == ["11", "12"]
