"""SLURM status of an experiment and its runs, where the store records it.

Two records say which SLURM jobs ran an experiment: a run's ``executor.slurm_job`` (the
project's layout and PostgreSQL rows, docs/store-format.md) and the ``manifest.json`` that
``metalab.run`` with a ``SlurmExecutor`` writes in an upstream-layout experiment directory
(its ``job_ids`` and ``shards``: which array task ran which run). States come from
``squeue``, asked at most every `TTL` seconds. A job no longer queued has finished; its
tasks' final states come from ``sacct`` when SLURM keeps accounting (asked with the recorded
job ids only, validated as numbers; the answer cached), and read "finished" without a state
where it does not. Both commands are built and read by `metalab.core.slurm`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from metalab.core.slurm.sacct import JOB_ID, parse_sacct, sacct_argv
from metalab.core.slurm.squeue import ACTIVE, parse_queue, queue_argv
from metalab_atlas.liveness import TTL, slurm_output
from metalab_atlas.upstream import load_json

MANIFEST = "manifest.json"
MAX_JOBS = 100


def squeue_states() -> dict[str, str] | None:
    """``{job or array task id: state}`` of everything queued; None when SLURM cannot say."""
    output = slurm_output(queue_argv())
    return None if output is None else parse_queue(output)


def sacct_states(jobs: tuple[str, ...]) -> dict[str, str] | None:
    """``{array task or job id: state}`` that SLURM accounting records for ``jobs`` (numeric
    job ids, at most `MAX_JOBS`); None when ``sacct`` is missing or fails (accounting storage
    not configured, for one)."""
    wanted = [j for j in jobs if JOB_ID.fullmatch(j)][:MAX_JOBS]
    output = slurm_output(sacct_argv(wanted)) if wanted else None
    return None if output is None else parse_sacct(output)


class Accounting:
    """``sacct``'s final states per set of jobs: an answer where every task has finished is
    kept (final states do not change; at most ``size`` sets), any other for ``ttl`` seconds."""

    def __init__(
        self,
        states: Callable[[tuple[str, ...]], dict[str, str] | None] = sacct_states,
        ttl: float = TTL,
        size: int = 256,
    ) -> None:
        self._states = states
        self.ttl = ttl
        self.size = size
        self._lock = threading.Lock()
        self._answers: OrderedDict[tuple[str, ...], tuple[float, dict[str, str] | None]] = (
            OrderedDict()
        )

    def states(self, jobs: Iterable[str]) -> dict[str, str] | None:
        key = tuple(sorted({base_job(j) for j in jobs if JOB_ID.fullmatch(base_job(j))}))
        if not key:
            return None
        with self._lock:
            if key in self._answers:
                at, found = self._answers[key]
                self._answers.move_to_end(key)
                final = bool(found) and not set((found or {}).values()) & ACTIVE
                if final or time.monotonic() - at < self.ttl:
                    return found
        found = self._states(key[:MAX_JOBS])
        with self._lock:
            self._answers[key] = (time.monotonic(), found)
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)
        return found


class Queue:
    """The cluster's queue, asked at most every ``ttl`` seconds (thread-safe)."""

    def __init__(
        self, states: Callable[[], dict[str, str] | None] = squeue_states, ttl: float = TTL
    ) -> None:
        self._states = states
        self.ttl = ttl
        self._lock = threading.Lock()
        self._last: tuple[float, dict[str, str] | None] = (-float("inf"), None)

    def states(self) -> dict[str, str] | None:
        with self._lock:
            at, found = self._last
            if time.monotonic() - at < self.ttl:
                return found
        found = self._states()
        with self._lock:
            self._last = (time.monotonic(), found)
        return found


def manifest(experiment_dir: str) -> dict[str, Any] | None:
    """The SLURM submission manifest of an upstream-layout experiment directory, if any: the
    directory's own file (a symlink to anywhere else reads as absent)."""
    path = os.path.join(experiment_dir, MANIFEST)
    if os.path.realpath(path) != os.path.join(os.path.realpath(experiment_dir), MANIFEST):
        return None
    data = load_json(path)
    if not isinstance(data, dict) or data.get("executor_type") != "slurm":
        return None
    jobs = data.get("job_ids")
    if not isinstance(jobs, list) or not all(isinstance(j, str) for j in jobs):
        return None
    return data


def manifest_task(found: dict[str, Any], run_id: str) -> str | None:
    """``JOB_TASK``: the array task that ran ``run_id`` under the manifest, if it says."""
    run_ids, skipped = found.get("run_ids"), found.get("skipped_run_ids") or []
    chunk = found.get("chunk_size")
    if not isinstance(run_ids, list) or not isinstance(chunk, int) or chunk < 1:
        return None
    left_out = set(skipped) if isinstance(skipped, list) else set()
    submitted = [r for r in run_ids if r not in left_out]
    try:
        index = submitted.index(run_id)
    except ValueError:
        return None
    for shard in found.get("shards") or []:
        if not isinstance(shard, dict):
            continue
        start, end, job = shard.get("start_idx"), shard.get("end_idx"), shard.get("job_id")
        if isinstance(start, int) and isinstance(end, int) and start <= index < end:
            return f"{job}_{(index - start) // chunk}"
    return None


def base_job(job: str) -> str:
    """``123`` of ``123``, ``123_4`` or ``123_[4-9]``."""
    return job.partition("_")[0]


def _counts(found: dict[str, str], ids: Iterable[str]) -> dict[str, int]:
    wanted = set(ids)
    states: dict[str, int] = {}
    for job, state in found.items():
        if base_job(job) in wanted:
            states[state] = states.get(state, 0) + 1
    return dict(sorted(states.items()))


def experiment_status(
    jobs: Iterable[str],
    recorded: str,
    queue: dict[str, str] | None,
    extra: dict[str, Any],
    accounting: Accounting | None = None,
) -> dict[str, Any]:
    """The badge of an experiment: its jobs and how many of their tasks are in each state;
    once none is queued, how many ended in each final state (``finished``) when ``sacct``
    can say (``sacct: false`` when it cannot)."""
    ids = sorted({base_job(j) for j in jobs})[:MAX_JOBS]
    states = _counts(queue, ids) if queue is not None and ids else {}
    ended: dict[str, Any] = {"finished": {}, "sacct": None}
    if ids and queue is not None and not states and accounting is not None:
        found = accounting.states(ids)
        ended = {"finished": _counts(found, ids) if found else {}, "sacct": found is not None}
    return {
        "slurm": bool(ids),
        "source": recorded if ids else None,
        "jobs": ids,
        "states": dict(sorted(states.items())),
        "queued": sum(states.values()),
        "squeue": queue is not None,
        **ended,
        **extra,
    }


def run_status(
    job: str | None, queue: dict[str, str] | None, accounting: Accounting | None = None
) -> dict[str, Any] | None:
    """``{job, state}`` of a run's array task (state None once it left the queue) and, once
    it has, the ``final`` state ``sacct`` recorded (``sacct: false`` when it cannot say)."""
    if not job:
        return None
    state = queue.get(job) if queue is not None else None
    ended: dict[str, Any] = {"final": None, "sacct": None}
    if state is None and queue is not None and accounting is not None:
        found = accounting.states([job])
        ended = {"final": found.get(job) if found else None, "sacct": found is not None}
    return {"job": job, "state": state, "squeue": queue is not None, **ended}
