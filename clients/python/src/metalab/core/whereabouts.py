"""Where a run executes: what ``run.json`` records so that a reader can tell a live run from
one whose executor is gone (docs/store-format.md, ``executor``)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
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


FIELDS = ("host", "pid", "pid_start", "pid_ns", "slurm_job")
MAX_TEXT = 256


def checked(value: Any) -> dict[str, Any] | None:
    """An ``executor`` read from an untrusted record: its known fields only, each an int, a
    string of at most `MAX_TEXT` characters or None (anything else as None); None when it is
    not a mapping."""
    if not isinstance(value, Mapping):
        return None
    out: dict[str, Any] = {}
    for name in FIELDS:
        item = value.get(name)
        fits = type(item) is int or (type(item) is str and len(item) <= MAX_TEXT)
        out[name] = item if fits else None
    return out


def from_record(record: Any) -> dict[str, Any] | None:
    """The executor a run record names: its own ``executor`` (the project's layout), else
    ``provenance.extra.executor`` (where the upstream-compatible SDK records it); checked."""
    if not isinstance(record, Mapping):
        return None
    own = checked(record.get("executor"))
    if own is not None:
        return own
    provenance = record.get("provenance")
    extra = provenance.get("extra") if isinstance(provenance, Mapping) else None
    return checked(extra.get("executor")) if isinstance(extra, Mapping) else None
