"""`ProcessExecutor`: runs on a local process pool; results go through the store."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
from dataclasses import asdict
from typing import Any

from metalab._sweep.base import SweepPlan
from metalab._sweep.config import LocalExecutorConfig
from metalab._sweep.worker import run_planned

log = logging.getLogger("metalab._sweep")


class ProcessExecutor:
    type_name = "local"

    def __init__(self, config: LocalExecutorConfig) -> None:
        self.config = config

    @property
    def settings(self) -> dict[str, Any]:
        return asdict(self.config)

    def submit(self, plan: SweepPlan) -> LocalHandle:
        context = multiprocessing.get_context("fork")
        pool = cf.ProcessPoolExecutor(max_workers=self.config.workers, mp_context=context)
        store_json = plan.store.to_json()
        futures = [
            pool.submit(
                run_planned,
                plan.experiment_id,
                plan.operation,
                store_json,
                spec.to_json(),
                plan.attempts.get(spec.run_id, 1),
                plan.capture_output,
                plan.python_path,
                dict(plan.env),
            )
            for spec in plan.runs
        ]
        return LocalHandle(pool, futures, self.config.workers)


class LocalHandle:
    def __init__(
        self, pool: cf.ProcessPoolExecutor, futures: list[cf.Future[Any]], workers: int
    ) -> None:
        self._pool = pool
        self._futures = futures
        self._workers = workers
        self._closed = False

    def describe(self) -> str:
        return f"local process pool ({self._workers} workers, {len(self._futures)} runs)"

    def active(self) -> bool | None:
        running = not all(f.done() for f in self._futures)
        if not running:
            self._close()
        return running

    def sleep(self, seconds: float) -> None:
        cf.wait(self._futures, timeout=seconds, return_when=cf.ALL_COMPLETED)

    def errors(self) -> list[BaseException]:
        """Failures of the machinery (not of operations, which the store records)."""
        return [
            e
            for f in self._futures
            if f.done() and not f.cancelled() and (e := f.exception()) is not None
        ]

    def cancel(self) -> None:
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._closed = True

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.shutdown(wait=True)
