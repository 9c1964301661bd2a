"""Where a run executes: what ``run.json`` records so that a reader can tell a live run from
one whose executor is gone (docs/store-format.md, ``executor``)."""

from __future__ import annotations

import os
import socket
from typing import Any


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``); None elsewhere
    or when there is no such process. With the pid it names one process: pids are reused."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def pid_namespace() -> str | None:
    """This process's pid namespace (``pid:[4026531836]``): pids mean something only inside
    it (a container on the same host has its own)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def slurm_job() -> str | None:
    """``JOB_TASK`` inside a SLURM array task, ``JOB`` inside another SLURM job, else None."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID") or None


def current() -> dict[str, Any]:
    """This process as run.json's ``executor``: host, pid, its start time and namespace, the
    SLURM job."""
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "pid": pid,
        "pid_start": process_start(pid),
        "pid_ns": pid_namespace(),
        "slurm_job": slurm_job(),
    }
