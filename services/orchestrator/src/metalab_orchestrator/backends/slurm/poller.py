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

from metalab.core.errors import SchedulerError
from metalab.core.slurm.squeue import GONE, JobInfo, parse_squeue, squeue_argv, unknown_job

from .runner import CommandRunner

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.25  # seconds between two squeue calls for one target


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
            result = await runner.run(squeue_argv(ids, all_states=True))
        except SchedulerError as exc:
            if unknown_job(exc.stderr):
                return {j: JobInfo(j, GONE) for j in ids}
            log.warning("squeue failed, job state unknown: %s", exc)
            return dict.fromkeys(ids)
        found = parse_squeue(result.stdout)
        return {j: found.get(j, JobInfo(j, GONE)) for j in ids}


POLLER = JobPoller()
