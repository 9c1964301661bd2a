"""Auxiliary folders around one sweep: restore before executing, archive after success.

`settle` finishes or undoes what a killed archive operation left behind. `prepare` runs before
any run executes: a run about to execute whose directory is missing in the workspace but
archived in a folder is copied back, and is not executed when the copy is completed; a run
about to (re)execute whose directory is a symlink into a ``move`` folder gets the symlink
removed (never what it points to), so new output never lands in an archive.

`Archiver` queues completed runs on the `FolderWorker` thread and drains it, with progress,
before `metalab.run()` (in-process) or `Result.wait()` (executors) returns.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from collections.abc import Collection
from pathlib import Path

from metalab._folders import (
    ArchiveProgress,
    DrainReport,
    FolderWorker,
    needs_archive,
    restore_if_archived,
    sweep_stale,
)
from metalab._runstore.base import COMPLETED, RunRecord, Store
from metalab._sdk.experiment import RunSpec
from metalab._settings import Workspace

log = logging.getLogger("metalab.run")


def settle(store: Store, experiment_id: str, workspace: Workspace | None) -> None:
    """Finish or undo archive operations a killed process left in the experiment's runs.

    Runs before the run states are read: a run directory set aside mid-swap is back in place.
    """
    if workspace is not None and workspace.folders:
        sweep_stale(store.experiment_dir(experiment_id) / "runs")


def prepare(
    store: Store,
    experiment_id: str,
    todo: list[RunSpec],
    workspace: Workspace | None,
    *,
    restore: bool = True,
) -> tuple[list[RunSpec], list[RunRecord]]:
    """Restore archived runs of ``todo``; returns (runs still to execute, restored records).

    Call `settle` first (`restore_if_archived` is told the runs directory is swept).

    ``restore=False`` (``resume=False``: rerun everything) only unlinks symlinks. A dangling
    symlink with no copy anywhere (an unmounted ``move`` folder) is a `FolderError`.
    """
    if workspace is None or not workspace.folders or not todo:
        return todo, []
    remaining: list[RunSpec] = []
    restored: list[RunRecord] = []
    for spec in todo:
        run_dir = store.run_dir(experiment_id, spec.run_id)
        if run_dir.is_symlink() and (run_dir.exists() or not restore):
            log.info("run %s: executing again, unlinking %s (archive kept)", spec.run_id, run_dir)
            run_dir.unlink()
            remaining.append(spec)
            continue
        rel = f"{experiment_id}/runs/{spec.run_id}"
        if restore and not run_dir.exists() and restore_if_archived(rel, workspace, sweep=False):
            record = _read_record(run_dir / "run.json")
            if record is not None and record.status == COMPLETED:
                store.write_run(record)  # indexes it (PostgresStore); same content on disk
                restored.append(record)
                continue
        remaining.append(spec)
    if restored:
        log.info("restored %d completed run(s) from folders instead of running them", len(restored))
    return remaining, restored


def _read_record(path: Path) -> RunRecord | None:
    try:
        data = json.loads(path.read_bytes())
        return RunRecord.from_json(data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


class Archiver:
    """Archives one sweep's completed runs in the workspace's ``backup``/``move`` folders."""

    def __init__(
        self, workspace: Workspace | None, store: Store, experiment_id: str, enabled: bool
    ) -> None:
        self.worker = FolderWorker(workspace, enabled=enabled)
        self.workspace = workspace
        self.store = store
        self.experiment_id = experiment_id
        self._queued: set[str] = set()
        self._expected: set[str] = set()
        self._reported = 0
        self.report: DrainReport | None = None

    @property
    def active(self) -> bool:
        return self.worker.active

    def completed(self, run_id: str) -> None:
        """Queue a run that just completed (once per sweep)."""
        if self.active and run_id not in self._queued:
            self._queued.add(run_id)
            self.worker.submit(self.store.run_dir(self.experiment_id, run_id))

    def expect(self, run_ids: Collection[str]) -> None:
        """The runs this sweep executes: `poll` archives them as they complete."""
        self._expected = set(run_ids)

    def poll(self) -> None:
        """Queue the expected runs the store now shows completed (executor sweeps)."""
        if not self.active or not self._expected - self._queued:
            return
        states = self.store.run_states(self.experiment_id)
        for run_id in self._expected - self._queued:
            state = states.get(run_id)
            if state is not None and state.status == COMPLETED:
                self.completed(run_id)

    def catch_up(self, completed: Collection[str]) -> None:
        """Queue completed runs an earlier, interrupted sweep left unarchived."""
        if not self.active or self.workspace is None:
            return
        before = len(self._queued)
        for run_id in completed:
            if needs_archive(self.store.run_dir(self.experiment_id, run_id), self.workspace):
                self.completed(run_id)
        if len(self._queued) > before:
            log.info("archiving %d earlier completed run(s)", len(self._queued) - before)

    def drain(self) -> DrainReport | None:
        """Wait for the worker (progress on a terminal's stderr); log a summary."""
        pending = len(self._queued) - self._reported
        if not self.active or pending <= 0:
            return self.report
        log.info("waiting for %d run(s) to be archived", pending)
        tty = sys.stderr.isatty()

        def progress(state: ArchiveProgress) -> None:
            if tty:
                end = "\n" if state.done >= state.total else ""
                print(
                    f"\r{self.experiment_id}: archived {state.done}/{state.total}",
                    end=end,
                    file=sys.stderr,
                    flush=True,
                )

        try:
            report = self.worker.drain(progress)
        except Exception:  # a bug in the worker: runs are safe, say so and go on
            log.exception("the archive worker failed; runs stay in the workspace")
            return None
        counts = Counter(r.outcome.split(":", 1)[0] for r in report.results)
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to do"
        log.info("archived %d run(s): %s", pending, summary)
        for failure in report.failures:
            log.warning(
                "not archived: %s → %s: %s", failure.run_dir, failure.folder, failure.outcome
            )
        self.report = report
        self._reported = len(self._queued)
        return report
