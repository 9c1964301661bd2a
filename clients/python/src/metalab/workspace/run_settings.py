"""What `metalab.run` adds around a sweep for the user settings: restoring archived runs
before it, archiving completed runs and restoring the environment after it.

`prepare` runs before the runs are planned for submission; `Archiver` queues successful runs on
the `FolderWorker` thread; `SettingsRunHandle` wraps the executor's handle so that
``result()`` archives this sweep's successful runs (and any an interrupted call left),
drains the worker with progress on a terminal, and stops exporting the environment.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from metalab._archive import (
    archive_record,
    needs_archive,
    record_path,
    restore_run,
    settle,
    unlink_archived,
)
from metalab.executor.handle import HandleWrapper
from metalab.workspace.folders import ArchiveProgress, DrainReport, FolderWorker

if TYPE_CHECKING:
    from metalab._placement import ExportedEnv
    from metalab.events import EventCallback
    from metalab.executor.handle import RunHandle
    from metalab.result import Results
    from metalab.store.base import Store
    from metalab.workspace.settings import Workspace

log = logging.getLogger("metalab.runner")


def experiment_root(store: Store) -> Path | None:
    """The directory a scoped store writes the experiment's files to, if it has one."""
    from metalab.store import SupportsWorkingDirectory

    if isinstance(store, SupportsWorkingDirectory):
        return Path(store.get_working_directory())
    return None


def prepare(
    store: Store, root: Path, run_ids: list[str], workspace: Workspace, resume: bool
) -> int:
    """Before submitting: settle interrupted archive operations, restore archived runs the
    workspace lacks (``resume``), unlink symlinks of runs about to execute again. Returns how
    many runs were restored (they now count as done)."""
    import json

    from metalab.schema import load_run_record
    from metalab.types import Status

    settle(root, workspace)
    restored = 0
    for run_id in run_ids:
        if resume and restore_run(root, run_id, workspace):
            data = json.loads(record_path(root, run_id).read_bytes())
            store.put_run_record(load_run_record(data))  # same file; a PostgresStore indexes it
            restored += 1
            continue
        current = store.get_run_record(run_id) if resume else None
        if current is None or current.status != Status.SUCCESS:
            if unlink_archived(root, run_id):
                log.info("run %s executes again: unlinked its archived files (kept)", run_id)
    if restored:
        log.info("restored %d successful run(s) from folders instead of running them", restored)
    return restored


class Archiver:
    """Archives one sweep's successful runs in the workspace's ``backup``/``move`` folders."""

    def __init__(self, workspace: Workspace | None, root: Path | None, enabled: bool) -> None:
        self.workspace = workspace
        self.root = root
        self.worker = FolderWorker(
            workspace, enabled=enabled and root is not None, archive=archive_record
        )
        self._queued: set[str] = set()
        self._reported = 0

    @property
    def active(self) -> bool:
        return self.worker.active

    def queue(self, run_ids: Collection[str]) -> None:
        """Queue runs whose archive copies are missing or due (once each)."""
        if not self.active or self.root is None or self.workspace is None:
            return
        for run_id in run_ids:
            if run_id not in self._queued and needs_archive(self.root, run_id, self.workspace):
                self._queued.add(run_id)
                self.worker.submit(record_path(self.root, run_id))

    def drain(self, label: str) -> DrainReport | None:
        """Wait for the worker (progress on a terminal's stderr); log a summary."""
        pending = len(self._queued) - self._reported
        if not self.active or pending <= 0:
            return None
        log.info("waiting for %d run(s) to be archived", pending)
        tty = sys.stderr.isatty()

        def progress(state: ArchiveProgress) -> None:
            if tty:
                end = "\n" if state.done >= state.total else ""
                print(
                    f"\r{label}: archived {state.done}/{state.total}",
                    end=end,
                    file=sys.stderr,
                    flush=True,
                )

        try:
            report = self.worker.drain(progress)
        except Exception:  # a bug in the worker: runs are safe in the workspace, go on
            log.exception("the archive worker failed; runs stay in the workspace")
            return None
        counts = Counter(r.outcome.split(":", 1)[0] for r in report.results)
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to do"
        log.info("archived %d run(s): %s", pending, summary)
        for failure in report.failures:
            log.warning(
                "not archived: %s -> %s: %s", failure.run_dir, failure.folder, failure.outcome
            )
        self._reported = len(self._queued)
        return report


class SettingsRunHandle(HandleWrapper):
    """An executor's handle, plus the settings' work when its runs are gathered.

    ``result()`` returns the inner handle's results after archiving every run of the sweep
    that succeeded and stopping the environment export; so does ``cancel()`` (without
    archiving).
    """

    def __init__(
        self,
        handle: RunHandle,
        run_ids: list[str],
        archiver: Archiver,
        env: ExportedEnv,
        label: str,
    ) -> None:
        self._handle = handle
        self._run_ids = run_ids
        self._archiver = archiver
        self._env = env
        self._label = label
        self.archive_report: DrainReport | None = None

    def set_event_callback(self, callback: EventCallback | None) -> None:
        self._handle.set_event_callback(callback)

    def result(self, timeout: float | None = None) -> Results:
        """The runs' results, once archived (see the class docstring)."""
        try:
            results = self._handle.result(timeout=timeout)
        except TimeoutError:
            raise
        except BaseException:
            self._env.stop()
            raise
        self._env.stop()
        self._archiver.queue(self._run_ids)
        self.archive_report = self._archiver.drain(self._label) or self.archive_report
        return results

    def cancel(self) -> None:
        self._handle.cancel()
        self._env.stop()

    def __enter__(self) -> SettingsRunHandle:
        return self

    def __exit__(self, exc_type: object, exc_val: object, exc_tb: object) -> None:
        self._env.stop()
