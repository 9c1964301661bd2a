"""`ProcessExecutor`: runs in a pool of worker processes.

How the operation reaches a worker: where ``fork`` is available (Linux), each batch gets
its own pool, forked after the batch's operation is registered here, so workers use that
very object (by value: lambdas, local functions and operations of the running script
work) and never import the user's script. Elsewhere a worker imports the operation by
its reference, and ``metalab.run`` refuses to start a sweep inside a worker, which turns
an unguarded top-level ``metalab.run(...)`` into a one-line error naming the
``if __name__ == "__main__":`` guard instead of a second sweep.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metalab.executor._worker import WORKER_ENV, mark_worker
from metalab.executor.handle import LocalRunHandle, RecordFuture, RunHandle

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

    from metalab.executor.payload import RunPayload
    from metalab.operation import OperationWrapper
    from metalab.store.base import Store
    from metalab.types import RunRecord

_operations: dict[str, OperationWrapper] = {}
"""Operations of the batches this process submitted; forked workers inherit them."""

_worker_stores: dict[str, Store] = {}
"""A worker's open stores, by locator (connections are reused across runs)."""

_environ_lock = threading.Lock()


def _initialize_worker(python_path: list[str]) -> None:
    mark_worker()
    for entry in reversed(python_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def _store_for(locator: dict[str, Any]) -> Store:
    from metalab.store.config import StoreConfig

    key = json.dumps(locator, sort_keys=True, default=str)
    store = _worker_stores.get(key)
    if store is None:
        store = StoreConfig.from_dict(locator).connect()
        _worker_stores[key] = store
    return store


def _run_in_worker(payload_data: dict[str, Any], worker_num: int, batch: str) -> dict[str, Any]:
    """One run in a worker process; returns the record in its JSON form."""
    from metalab.executor.core import execute_payload
    from metalab.executor.payload import RunPayload
    from metalab.operation import import_operation
    from metalab.schema import dump_run_record

    payload = RunPayload.from_dict(payload_data)
    operation = _operations.get(batch) or import_operation(payload.operation_ref)
    record = execute_payload(
        run_id=payload.run_id,
        experiment_id=payload.experiment_id,
        context_spec=payload.context_spec,
        params_resolved=payload.params_resolved,
        seed_bundle=payload.seed_bundle,
        fingerprints=payload.fingerprints,
        metadata=payload.metadata,
        operation=operation,
        store=_store_for(payload.store_locator),
        worker_id=f"process:{worker_num}",
        derived_metric_refs=payload.derived_metric_refs,
        capture_third_party_logs=True,
    )
    return dump_run_record(record)


def _context() -> BaseContext:
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


class ProcessExecutor:
    """Runs payloads in up to ``max_workers`` processes (logged as ``process:N``).

    Each run records what the root logger received during it as its ``logging`` log.
    """

    def __init__(self, max_workers: int = 4) -> None:
        self._max_workers = max_workers
        self._batches: list[_Batch] = []
        self._worker_counter = 0

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
        self._release_finished_pools()
        futures: list[tuple[str, RecordFuture]] = []
        if payloads:
            batch = secrets.token_hex(16)
            _operations[batch] = operation
            context = _context()
            pool = ProcessPoolExecutor(
                max_workers=max(1, min(self._max_workers, len(payloads))),
                mp_context=context,
                initializer=_initialize_worker,
                initargs=(list(sys.path),),
            )
            self._worker_counter = 0
            with _spawned_as_workers(context):
                for payload in payloads:
                    self._worker_counter += 1
                    future = pool.submit(
                        _run_in_worker, payload.to_dict(), self._worker_counter, batch
                    )
                    futures.append((payload.run_id, _RecordFuture(future)))
            self._batches.append(_Batch(batch, pool, [f for _, f in futures]))
        return LocalRunHandle(
            futures=futures,
            store=store,
            run_ids=all_run_ids,
            skipped_run_ids=[rid for rid in all_run_ids if rid not in submitted],
        )

    def _release_finished_pools(self) -> None:
        """Stop the pools of earlier batches whose runs have all finished."""
        for batch in [b for b in self._batches if b.finished()]:
            self._batches.remove(batch)
            batch.close(wait=False)

    def shutdown(self, wait: bool = True) -> None:
        """Stop every pool (``wait``: let started runs finish)."""
        batches, self._batches = self._batches, []
        for batch in batches:
            batch.close(wait=wait)

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, exc_type: object, exc_val: object, exc_tb: object) -> None:
        self.shutdown(wait=True)


@contextmanager
def _spawned_as_workers(context: BaseContext) -> Iterator[None]:
    """Without fork, children start a fresh interpreter that re-imports the user's script.

    They learn they are workers from the environment they inherit while the pool starts
    them, so an unguarded top-level ``metalab.run`` refuses there.
    """
    if context.get_start_method() == "fork":
        yield
        return
    with _environ_lock:
        os.environ[WORKER_ENV] = "1"
        try:
            yield
        finally:
            del os.environ[WORKER_ENV]


@dataclass
class _Batch:
    token: str
    pool: ProcessPoolExecutor
    futures: list[RecordFuture]

    def finished(self) -> bool:
        return all(f.done() for f in self.futures)

    def close(self, wait: bool) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=not wait)
        _operations.pop(self.token, None)


class _RecordFuture:
    """A worker's future, whose JSON result is read back as a ``RunRecord``."""

    def __init__(self, inner: Future[dict[str, Any]]) -> None:
        self._inner = inner

    def result(self, timeout: float | None = None) -> RunRecord:
        from metalab.schema import load_run_record

        return load_run_record(self._inner.result(timeout=timeout))

    def done(self) -> bool:
        return self._inner.done()

    def cancelled(self) -> bool:
        return self._inner.cancelled()

    def cancel(self) -> bool:
        return self._inner.cancel()
