"""Job states from ``squeue``: one call for every job a process watches, rate-limited.

No ``sacct`` (clusters without accounting have none): ``squeue -t all`` still lists a job for
``MinJobAge`` after it ends, and a job the controller no longer knows is *gone*. A failed
``squeue`` (controller down, SSH hiccup) is *unknown*, never gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from metalab.core.errors import SchedulerError

from .runner import CommandRunner

log = logging.getLogger(__name__)

SQUEUE_FORMAT = "%i|%T|%r|%N|%e"
MIN_INTERVAL = 0.25  # seconds between two squeue calls for one target
# Not final: the job holds, or will again hold, our services.
ACTIVE = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "PREEMPTED",
        "SIGNALING",
        "STAGE_OUT",
        "RESV_DEL_HOLD",
        "STOPPED",
    }
)
WAITING = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "PREEMPTED",
        "SUSPENDED",
        "RESV_DEL_HOLD",
        "STOPPED",
    }
)
GONE = "GONE"  # the controller no longer knows the job
UNKNOWN_JOB = "Invalid job id specified"


@dataclass(frozen=True)
class JobInfo:
    """One line of squeue: the job's state, pending reason, node and expected end."""

    job_id: str
    state: str
    reason: str = ""
    node: str = ""
    end_time: str = ""  # ISO 8601 in UTC, or ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"

    @property
    def waiting(self) -> bool:
        return self.state in WAITING


def _end_time(value: str) -> str:
    """squeue prints local time without a zone (or N/A, Unknown)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return ""
    return parsed.astimezone().astimezone(UTC).isoformat(timespec="seconds")


def parse_squeue(output: str) -> dict[str, JobInfo]:
    """Lines of ``%i|%T|%r|%N|%e`` to JobInfo by job id; malformed lines are skipped."""
    jobs: dict[str, JobInfo] = {}
    for line in output.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 5 or not fields[0]:
            continue
        job_id, state, reason, node, end = (f.strip() for f in fields)
        state = state.split()[0].rstrip("+").upper() if state else "UNKNOWN"
        reason = "" if reason in ("None", "(null)") else reason
        jobs[job_id] = JobInfo(job_id, state, reason, node, _end_time(end))
    return jobs


def squeue_argv(job_ids: Iterable[str]) -> list[str]:
    ids = ",".join(sorted(set(job_ids)))
    return ["squeue", "-h", "-t", "all", "-j", ids, "-o", SQUEUE_FORMAT]


class JobPoller:
    """Single-flight, cached ``squeue`` per target: concurrent waiters share one call.

    ``jobs(ids)`` returns ``{id: JobInfo}``; an id the controller does not know maps to a
    ``GONE`` JobInfo; when squeue itself fails every id maps to None (unknown).
    """

    def __init__(self, min_interval: float = MIN_INTERVAL) -> None:
        self._min_interval = min_interval
        self._watched: dict[str, set[str]] = {}
        self._cache: dict[str, tuple[float, dict[str, JobInfo | None]]] = {}
        self._inflight: dict[str, asyncio.Future[dict[str, JobInfo | None]]] = {}
        self.calls = 0

    async def jobs(
        self, runner: CommandRunner, job_ids: Iterable[str], *, fresh: bool = False
    ) -> dict[str, JobInfo | None]:
        wanted = {j for j in job_ids if j}
        if not wanted:
            return {}
        target = runner.target
        watched = self._watched.setdefault(target, set())
        watched |= wanted
        while True:
            cached = self._cache.get(target)
            if cached and not fresh and wanted <= cached[1].keys():
                if time.monotonic() - cached[0] < self._min_interval:
                    return {j: cached[1][j] for j in wanted}
            pending = self._inflight.get(target)
            if pending is None:
                break
            await asyncio.wait({pending})  # never raises; its result lands in the cache
            fresh = False  # that call started after we asked
        future: asyncio.Future[dict[str, JobInfo | None]] = (
            asyncio.get_running_loop().create_future()
        )
        self._inflight[target] = future
        try:
            result = await self._query(runner, set(watched))
            self._cache[target] = (time.monotonic(), result)
            future.set_result(result)
        except BaseException:
            future.cancel()  # waiters look again and query themselves
            raise
        finally:
            del self._inflight[target]
        return {j: result.get(j) for j in wanted}

    def forget(self, runner: CommandRunner, job_ids: Iterable[str]) -> None:
        self._watched.get(runner.target, set()).difference_update(job_ids)

    async def _query(self, runner: CommandRunner, ids: set[str]) -> dict[str, JobInfo | None]:
        self.calls += 1
        try:
            result = await runner.run(squeue_argv(ids))
        except SchedulerError as exc:
            if UNKNOWN_JOB in exc.stderr:
                return {j: JobInfo(j, GONE) for j in ids}
            log.warning("squeue failed, job state unknown: %s", exc)
            return dict.fromkeys(ids)
        found = parse_squeue(result.stdout)
        return {j: found.get(j, JobInfo(j, GONE)) for j in ids}


POLLER = JobPoller()
