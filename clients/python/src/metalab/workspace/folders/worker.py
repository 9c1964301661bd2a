"""The background worker that archives finished runs while a sweep goes on."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from metalab.workspace.folders.operations import ArchiveResult, archive_run
from metalab.workspace.settings import Workspace

log = logging.getLogger("metalab.folders")


@dataclass(frozen=True)
class ArchiveProgress:
    done: int
    total: int
    current: Path | None


@dataclass
class DrainReport:
    results: list[ArchiveResult] = field(default_factory=list)
    pending: int = 0

    @property
    def failures(self) -> list[ArchiveResult]:
        return [r for r in self.results if not r.ok]


class FolderWorker:
    """Archives finished runs on one background thread; `submit` never blocks.

    ::

        worker = FolderWorker(workspace, enabled=backup)
        worker.start()
        ...  worker.submit(run_dir)   # after each successful run
        report = worker.drain(progress)   # before metalab.run returns

    ``archive`` archives one queued item (default `archive_run`, for a run directory).
    Inactive (every call a no-op) without a workspace, for remote workspaces, with
    ``enabled=False``, or when the workspace has no ``backup``/``move`` folder.
    """

    def __init__(
        self,
        workspace: Workspace | None,
        *,
        enabled: bool = True,
        archive: Callable[[Path, Workspace], list[ArchiveResult]] | None = None,
    ) -> None:
        self.workspace = workspace
        self._archive = archive or archive_run
        self.active = bool(
            enabled
            and workspace is not None
            and not workspace.is_remote
            and workspace.folders_with("backup", "move")
        )
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._submitted = 0
        self._done = 0
        self._current: Path | None = None
        self._results: list[ArchiveResult] = []
        self._unexpected: BaseException | None = None

    def start(self) -> None:
        if not self.active or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._loop, name="metalab-folders", daemon=True)
        self._thread.start()

    def submit(self, run_dir: Path, *, archive: bool = True) -> None:
        """Queue a successfully completed run directory (``archive=False``: per-run opt-out)."""
        if not self.active or not archive:
            return
        self.start()
        with self._lock:
            self._submitted += 1
        self._queue.put(run_dir)

    def _loop(self) -> None:
        assert self.workspace is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            with self._lock:
                self._current = item
                self._lock.notify_all()
            try:
                results = self._archive(item, self.workspace)
            except Exception as exc:
                log.exception("archive worker error on %s", item)
                results = []
                with self._lock:
                    self._unexpected = self._unexpected or exc
            with self._lock:
                self._results.extend(results)
                self._done += 1
                self._current = None
                self._lock.notify_all()

    def drain(
        self,
        progress: Callable[[ArchiveProgress], None] | None = None,
        timeout: float | None = None,
    ) -> DrainReport:
        """Wait for every submitted run, reporting progress; stops the thread when done."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        last: tuple[int, Path | None] | None = None
        with self._lock:
            while True:
                state = (self._done, self._current)
                if progress is not None and state != last and self._submitted:
                    progress(ArchiveProgress(self._done, self._submitted, self._current))
                last = state
                if self._done >= self._submitted:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._lock.wait(remaining if remaining is not None else 1.0)
            report = DrainReport(list(self._results), self._submitted - self._done)
            unexpected = self._unexpected
        if report.pending == 0 and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        elif report.pending:
            log.warning("%d archive operation(s) still running in the background", report.pending)
        if unexpected is not None:
            raise unexpected
        return report

    def __enter__(self) -> FolderWorker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.drain()
