"""Which ``running`` runs are *lost*: their executor is gone (docs/store-format.md,
``executor``).

A run executed on this host (and pid namespace) is lost when its recorded pid is not alive,
or is alive but started at another time (a reused pid). A SLURM run is lost when its job
(array task) is no longer in ``squeue``. Anything else (another host, no record, ``squeue``
failing) stays ``running``: lost is only shown when it is known. Answers are cached for `TTL`
seconds and only running runs are ever checked.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from metalab.core.process import pid_alive
from metalab.core.slurm.squeue import parse_queue, queue_argv
from metalab.core.whereabouts import pid_namespace, process_start

TTL = 5.0
LOST = "lost"
SQUEUE_TIMEOUT = 10.0


def slurm_output(argv: list[str]) -> str | None:
    """What a SLURM command built by `metalab.core.slurm` prints; None when it is not
    installed, fails or takes longer than `SQUEUE_TIMEOUT`."""
    found = shutil.which(argv[0])
    if found is None:
        return None
    try:
        done = subprocess.run(
            [found, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=SQUEUE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def squeue_jobs() -> frozenset[str] | None:
    """Every job and array task id SLURM knows (``123``, ``123_4``); None when unknown."""
    output = slurm_output(queue_argv())
    return None if output is None else frozenset(parse_queue(output))


def process_alive(pid: int, started: int | None) -> bool:
    if not pid_alive(pid):
        return False
    if started is None:
        return True
    now = process_start(pid)
    return now is None or now == started


class Liveness:
    """Tells lost runs from running ones; thread-safe, ``squeue`` asked at most every `TTL`."""

    def __init__(
        self,
        host: str | None = None,
        jobs: Callable[[], frozenset[str] | None] = squeue_jobs,
        ttl: float = TTL,
    ) -> None:
        self.host = host or socket.gethostname()
        self.pid_ns = pid_namespace()
        self.ttl = ttl
        self._jobs = jobs
        self._lock = threading.Lock()
        self._queue: tuple[float, frozenset[str] | None] = (-float("inf"), None)
        self._answers: dict[tuple[Any, ...], tuple[float, bool]] = {}

    def _queued(self) -> frozenset[str] | None:
        with self._lock:
            at, jobs = self._queue
            if time.monotonic() - at < self.ttl:
                return jobs
        jobs = self._jobs()
        with self._lock:
            self._queue = (time.monotonic(), jobs)
        return jobs

    def is_lost(self, executor: Mapping[str, Any] | None) -> bool:
        """Whether the executor a ``running`` record names is known to be gone."""
        if not isinstance(executor, Mapping):
            return False
        job = executor.get("slurm_job")
        if isinstance(job, str) and job:
            jobs = self._queued()
            return jobs is not None and job not in jobs
        pid, started = executor.get("pid"), executor.get("pid_start")
        if executor.get("host") != self.host or not isinstance(pid, int) or pid <= 0:
            return False
        namespace = executor.get("pid_ns")
        if namespace is not None and namespace != self.pid_ns:
            return False  # another container's pids: not ours to check
        key = (pid, started)
        now = time.monotonic()
        with self._lock:
            found = self._answers.get(key)
        if found is not None and now - found[0] < self.ttl:
            return found[1]
        lost = not process_alive(pid, started if isinstance(started, int) else None)
        with self._lock:
            self._answers[key] = (now, lost)
            if len(self._answers) > 10_000:
                self._answers.clear()
        return lost

    def lost(self, running: Iterable[tuple[str, Mapping[str, Any] | None]]) -> frozenset[str]:
        """The run ids, among ``(run_id, executor)`` of running runs, that are lost."""
        return frozenset(run_id for run_id, executor in running if self.is_lost(executor))
