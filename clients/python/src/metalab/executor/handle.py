"""Run handles: follow, await and cancel a submitted batch of runs.

``RunStatus`` counts a batch's runs; ``RunHandle`` is the interface every executor's
handle offers; ``LocalRunHandle`` serves thread and process pools. A handle reports
state changes as events (started/finished/failed/skipped) to an optional callback.
"""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import TimeoutError as FuturesTimeoutError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from metalab.events import Event, EventCallback
    from metalab.result import Results
    from metalab.store.base import Store
    from metalab.types import RunRecord

logger = logging.getLogger(__name__)


@dataclass
class RunStatus:
    """Counts of a batch's runs: ``total == completed + failed + running + pending + skipped``.

    ``completed`` and ``failed`` count runs that executed in this batch; ``skipped``
    counts runs resume found already successful in the store.
    """

    total: int
    completed: int
    running: int
    pending: int
    failed: int
    skipped: int = 0

    def __str__(self) -> str:
        return (
            f"RunStatus(total={self.total}, completed={self.completed}, "
            f"running={self.running}, pending={self.pending}, failed={self.failed}, "
            f"skipped={self.skipped})"
        )

    @property
    def done(self) -> int:
        """Finished runs: completed + failed + skipped."""
        return self.completed + self.failed + self.skipped

    @property
    def in_flight(self) -> int:
        """Unfinished runs: running + pending."""
        return self.running + self.pending


class RunHandle(Protocol):
    """What ``metalab.run`` returns: a promise over a batch of runs."""

    @property
    def job_id(self) -> str:
        """This batch's identifier."""
        ...

    @property
    def store(self) -> Store:
        """The store the runs are written to."""
        ...

    @property
    def status(self) -> RunStatus:
        """Current counts (does not block)."""
        ...

    @property
    def is_complete(self) -> bool:
        """True once every run has finished."""
        ...

    def result(self, timeout: float | None = None) -> Results:
        """Wait for every run (``TimeoutError`` after ``timeout`` seconds) and return them."""
        ...

    def cancel(self) -> None:
        """Cancel the runs that have not finished."""
        ...

    @property
    def can_reconnect(self) -> bool:
        """True if another session can attach to this batch (``metalab.reconnect``)."""
        ...

    @property
    def reconnect_locator(self) -> str | None:
        """The store locator to reconnect with, if reconnecting is possible."""
        ...

    def set_event_callback(self, callback: EventCallback | None) -> None:
        """Send this batch's events to ``callback`` (``None`` stops them)."""
        ...


class RecordFuture(Protocol):
    """The part of ``concurrent.futures.Future[RunRecord]`` a local handle uses."""

    def done(self) -> bool: ...

    def result(self, timeout: float | None = None) -> RunRecord: ...

    def cancel(self) -> bool: ...


class LocalRunHandle:
    """Handle over futures of a local pool (one future per executed run)."""

    def __init__(
        self,
        futures: list[tuple[str, RecordFuture]],
        store: Store,
        run_ids: list[str],
        job_id: str | None = None,
        on_event: EventCallback | None = None,
        skipped_run_ids: list[str] | None = None,
    ) -> None:
        """
        Args:
            futures: ``(run_id, future)`` of every run submitted.
            store: The runs' store.
            run_ids: Every run of the batch, skipped ones included.
            job_id: This batch's id (default ``local-`` and 8 hex digits).
            on_event: Event callback.
            skipped_run_ids: Runs resume skipped; reported as ``run_skipped`` events.
        """
        self._futures = futures
        self._store = store
        self._run_ids = run_ids
        self._job_id = job_id or f"local-{secrets.token_hex(4)}"
        self._on_event = on_event
        self._skipped_run_ids = list(skipped_run_ids or [])
        self._reported: set[str] = set()
        self._records: list[RunRecord] = []
        self._gathered = False
        self._report_skipped()

    @property
    def job_id(self) -> str:
        """This batch's identifier."""
        return self._job_id

    @property
    def store(self) -> Store:
        """The store the runs are written to."""
        return self._store

    @property
    def can_reconnect(self) -> bool:
        """Local batches live in this process: no reconnecting."""
        return False

    @property
    def reconnect_locator(self) -> str | None:
        """Always ``None`` (see :attr:`can_reconnect`)."""
        return None

    def set_event_callback(self, callback: EventCallback | None) -> None:
        """Send events to ``callback``; skipped runs are reported to it again."""
        self._on_event = callback
        if callback is not None:
            self._report_skipped()

    @property
    def status(self) -> RunStatus:
        """Current counts; also reports runs that finished since the last look."""
        self._report_finished()
        completed = failed = running = 0
        for _, future in self._futures:
            if not future.done():
                running += 1
            elif _succeeded(future):
                completed += 1
            else:
                failed += 1
        skipped = len(self._skipped_run_ids)
        total = len(self._run_ids)
        pending = max(0, total - completed - failed - running - skipped)
        return RunStatus(
            total=total,
            completed=completed,
            running=running,
            pending=pending,
            failed=failed,
            skipped=skipped,
        )

    @property
    def is_complete(self) -> bool:
        """True once every submitted run's future is done."""
        return all(future.done() for _, future in self._futures)

    def result(self, timeout: float | None = None) -> Results:
        """Wait for every run and return them with the skipped runs' stored records.

        Raises:
            TimeoutError: if a run has not finished within ``timeout`` seconds.
        """
        from metalab.result import Results

        if not self._gathered:
            records: list[RunRecord] = []
            for run_id, future in self._futures:
                try:
                    record = future.result(timeout=timeout)
                except FuturesTimeoutError:
                    raise TimeoutError(f"Timeout waiting for run {run_id}") from None
                except Exception as exc:  # noqa: BLE001 - one lost run never sinks the batch
                    logger.warning(f"Error processing run {run_id}: {exc}")
                    continue
                records.append(record)
                self._report(run_id, record)
                try:
                    self._store.put_run_record(record)
                except Exception as exc:  # noqa: BLE001 - the worker already stored it
                    logger.warning(f"Error processing run {run_id}: {exc}")
            executed = {record.run_id for record in records}
            for run_id in self._run_ids:
                if run_id not in executed:
                    stored = self._store.get_run_record(run_id)
                    if stored is not None:
                        records.append(stored)
            self._records = records
            self._gathered = True
        return Results(store=self._store, records=self._records)

    def cancel(self) -> None:
        """Cancel runs that have not started (started runs finish)."""
        for _, future in self._futures:
            future.cancel()

    def _emit(self, event: Event) -> None:
        from metalab.events import emit_event

        emit_event(self._on_event, event)

    def _report_skipped(self) -> None:
        from metalab.events import Event

        for run_id in self._skipped_run_ids:
            self._emit(Event.run_skipped(run_id, reason="already exists"))

    def _report_finished(self) -> None:
        from metalab.events import Event

        for run_id, future in self._futures:
            if run_id in self._reported or not future.done():
                continue
            try:
                record = future.result(timeout=0)
            except Exception as exc:  # noqa: BLE001 - reported as the run's failure
                self._emit(Event.run_failed(run_id, error=str(exc)))
                self._reported.add(run_id)
            else:
                self._report(run_id, record)

    def _report(self, run_id: str, record: RunRecord) -> None:
        """Emit ``run_finished`` or ``run_failed`` for a run, once."""
        from metalab.events import Event

        if run_id in self._reported:
            return
        self._reported.add(run_id)
        if record.status.value == "success":
            self._emit(
                Event.run_finished(run_id, duration_ms=record.duration_ms, metrics=record.metrics)
            )
        else:
            message = record.error.get("message", "") if record.error else ""
            self._emit(Event.run_failed(run_id, error=message))


def _succeeded(future: RecordFuture) -> bool:
    try:
        return future.result(timeout=0).status.value == "success"
    except Exception:  # noqa: BLE001 - a run without a record counts as failed
        return False


class HandleWrapper:
    """A handle around another (``_handle``) that adds work to gathering its runs: what it
    does not change reads through to the inner handle."""

    _handle: RunHandle

    @property
    def job_id(self) -> str:
        """The inner handle's batch id."""
        return self._handle.job_id

    @property
    def store(self) -> Store:
        """The inner handle's store."""
        return self._handle.store

    @property
    def status(self) -> RunStatus:
        """The inner handle's counts."""
        return self._handle.status

    @property
    def is_complete(self) -> bool:
        """True once every run has finished."""
        return self._handle.is_complete

    @property
    def can_reconnect(self) -> bool:
        """Whether the inner handle can be reattached to."""
        return self._handle.can_reconnect

    @property
    def reconnect_locator(self) -> str | None:
        """The inner handle's reconnect locator."""
        return self._handle.reconnect_locator
