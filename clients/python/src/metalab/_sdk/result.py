"""`Result`: a submitted (or finished) sweep; status from the store, liveness from the executor."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from typing import Any

from metalab._runstore.base import (
    CANCELLED,
    COMPLETED,
    FAILED,
    RUNNING,
    RunRecord,
    Store,
    StoreConfig,
)
from metalab._sdk.archiving import Archiver
from metalab._sdk.table import RunTable

log = logging.getLogger("metalab.run")
PENDING = "pending"
LOST = "lost"  # the executor finished but the run left no record (killed before it started)
FIRST_POLL, MAX_POLL, BACKOFF = 1.0, 30.0, 1.5


class DoneHandle:
    def __init__(self, what: str) -> None:
        self.what = what

    def active(self) -> bool | None:
        return False

    def sleep(self, seconds: float) -> None:
        return None

    def cancel(self) -> None:
        return None

    def describe(self) -> str:
        return self.what


class Result:
    """What `metalab.run` returns: the sweep's run ids, its store, and a handle to wait on."""

    def __init__(
        self,
        experiment_id: str,
        run_ids: list[str],
        submitted: int,
        config: StoreConfig,
        store: Store,
        handle: Any,
        archiver: Archiver | None = None,
    ) -> None:
        self.experiment_id = experiment_id
        self.run_ids = run_ids
        self.total = len(run_ids)
        self.submitted = submitted
        self.skipped = self.total - submitted
        self.store_config = config
        self.store = store
        self.handle = handle
        self.archiver = archiver
        self._finished = False
        self._last_progress = ""

    def __repr__(self) -> str:
        return (
            f"Result({self.experiment_id!r}, total={self.total}, submitted={self.submitted},"
            f" {self.handle.describe()})"
        )

    def runs(self) -> list[RunRecord]:
        """Records of this sweep's runs (other runs of the experiment are left out)."""
        wanted = set(self.run_ids)
        return [r for r in self.store.read_runs(self.experiment_id) if r.run_id in wanted]

    def status_counts(self) -> dict[str, int]:
        """How many runs are completed/failed/cancelled/running/pending (lost once finished)."""
        wanted = set(self.run_ids)
        states = self.store.run_states(self.experiment_id)
        counts = Counter(s.status for rid, s in states.items() if rid in wanted)
        missing = self.total - sum(counts.values())
        if missing:
            counts[LOST if self._finished else PENDING] += missing
        if self._finished and counts.get(RUNNING):
            counts[LOST] += counts.pop(RUNNING)
        return dict(counts)

    @property
    def done(self) -> bool:
        if not self._finished and self.handle.active() is False:
            self._finished = True
        return self._finished

    def wait(self, progress: bool = False, timeout: float | None = None) -> Result:
        """Block until the executor has nothing queued or running; Ctrl+C cancels the sweep.

        Polls gently: one scheduler query per poll, with backoff from 1 s to 30 s. Completed
        runs are archived to the workspace's folders as they show up; the archive worker is
        drained before this returns.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = FIRST_POLL
        try:
            while True:
                state = self.handle.active()
                if self.archiver is not None:
                    self.archiver.poll()
                if progress:
                    self._print_progress()
                if state is False:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"{self.experiment_id}: still running after {timeout}s")
                pause = delay if deadline is None else min(delay, deadline - time.monotonic())
                self.handle.sleep(max(pause, 0.0))
                delay = min(delay * BACKOFF, MAX_POLL)
        except KeyboardInterrupt:
            log.warning("interrupted: cancelling %s", self.handle.describe())
            self.cancel()
            raise
        finally:
            if self.archiver is not None:
                self.archiver.poll()
                self.archiver.drain()
        self._finished = True
        if progress:
            self._print_progress(final=True)
        errors = getattr(self.handle, "errors", None)
        for error in errors() if errors else []:
            log.error("executor error: %s", error)
        return self

    def cancel(self) -> None:
        """Cancel everything queued or running (SLURM: ``scancel`` on the arrays)."""
        self.handle.cancel()
        self._finished = True

    def table(self) -> RunTable:
        """One row per run: run_id, status, seed, params, metrics, duration, error."""
        by_id = {r.run_id: r for r in self.runs()}
        rows: list[dict[str, Any]] = []
        for rid in self.run_ids:
            record = by_id.get(rid)
            if record is None:
                rows.append({"run_id": rid, "status": LOST if self._finished else PENDING})
                continue
            row: dict[str, Any] = {"run_id": rid, "status": record.status, "seed": record.seed}
            row.update({f"params.{k}": v for k, v in record.params.items()})
            row.update({f"metrics.{k}": v for k, v in record.metrics.items()})
            row["duration_s"] = record.duration_s
            if record.status in (FAILED, CANCELLED):
                row["error"] = record.error
            rows.append(row)
        return RunTable(rows)

    def _print_progress(self, final: bool = False) -> None:
        """One status line on stderr: redrawn in place on a terminal, else printed on change."""
        counts = self.status_counts()
        finished = sum(counts.get(s, 0) for s in (COMPLETED, FAILED, CANCELLED))
        parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        text = f"{self.experiment_id}: {finished}/{self.total} finished ({parts})"
        if sys.stderr.isatty():
            print(f"\r{text}", end="\n" if final else "", file=sys.stderr, flush=True)
        elif text != self._last_progress:
            print(text, file=sys.stderr, flush=True)
        self._last_progress = text
