"""`ThreadExecutor`: runs in a thread pool of this process (the default, with one thread)."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from metalab.executor.core import execute_payload
from metalab.executor.handle import LocalRunHandle, RecordFuture, RunHandle

if TYPE_CHECKING:
    from metalab.executor.payload import RunPayload
    from metalab.operation import OperationWrapper
    from metalab.store.base import Store
    from metalab.types import RunRecord


class ThreadExecutor:
    """Runs payloads on ``max_workers`` threads, sharing the operation and store objects.

    Runs are logged as ``thread:N`` (N counts the batch's runs from 1).
    """

    def __init__(self, max_workers: int = 4) -> None:
        self._max_workers = max_workers
        self._pool = ThreadPoolExecutor(max_workers=max_workers)
        self._counter = itertools.count(1)
        self._counter_lock = threading.Lock()

    def submit(
        self,
        payloads: list[RunPayload],
        store: Store,
        operation: OperationWrapper,
        run_ids: list[str] | None = None,
    ) -> RunHandle:
        """Start the payloads' runs; ``run_ids`` (all runs, skipped included) feed status."""
        all_run_ids = run_ids if run_ids is not None else [p.run_id for p in payloads]
        submitted = {p.run_id for p in payloads}
        with self._counter_lock:
            self._counter = itertools.count(1)
        futures: list[tuple[str, RecordFuture]] = []
        for payload in payloads:
            future: Future[RunRecord] = self._pool.submit(self._run, payload, store, operation)
            futures.append((payload.run_id, future))
        return LocalRunHandle(
            futures=futures,
            store=store,
            run_ids=all_run_ids,
            skipped_run_ids=[rid for rid in all_run_ids if rid not in submitted],
        )

    def _run(self, payload: RunPayload, store: Store, operation: OperationWrapper) -> RunRecord:
        with self._counter_lock:
            worker = next(self._counter)
        return execute_payload(
            run_id=payload.run_id,
            experiment_id=payload.experiment_id,
            context_spec=payload.context_spec,
            params_resolved=payload.params_resolved,
            seed_bundle=payload.seed_bundle,
            fingerprints=payload.fingerprints,
            metadata=payload.metadata,
            operation=operation,
            store=store,
            worker_id=f"thread:{worker}",
            derived_metric_refs=payload.derived_metric_refs,
            capture_third_party_logs=False,
        )

    def shutdown(self, wait: bool = True) -> None:
        """Stop the pool (``wait``: let started runs finish)."""
        self._pool.shutdown(wait=wait)

    def __enter__(self) -> ThreadExecutor:
        return self

    def __exit__(self, exc_type: object, exc_val: object, exc_tb: object) -> None:
        self.shutdown(wait=True)
