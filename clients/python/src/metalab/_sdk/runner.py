"""Execute one run: record it started, call the operation with output captured, record the end.

Shared by the in-process path, the local process pool and the SLURM array task.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from metalab._runstore import whereabouts
from metalab._runstore.base import (
    CANCELLED,
    COMPLETED,
    FAILED,
    RUNNING,
    RunRecord,
    RunState,
    Store,
    now_iso,
)
from metalab._sdk.capture import Capture
from metalab._sdk.experiment import RunSpec


class RunCancelled(BaseException):
    """Raised inside a run when its process is asked to stop (SIGTERM from scancel)."""


@contextlib.contextmanager
def captured_output(log_dir: Path) -> Iterator[None]:
    """Send this process's stdout/stderr (Python and file-descriptor level) to log files."""
    log_dir.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    saved_streams = (sys.stdout, sys.stderr)
    out = open(log_dir / "stdout.txt", "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    err = open(log_dir / "stderr.txt", "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    try:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout, sys.stderr = out, err
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            out.flush()
            err.flush()
        sys.stdout, sys.stderr = saved_streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        out.close()
        err.close()


def execute_run(
    store: Store,
    experiment_id: str,
    operation: Callable[..., Any],
    spec: RunSpec,
    attempt: int = 1,
    capture_output: bool = True,
) -> RunRecord:
    """Run ``operation(params, seed, capture)`` once and record the outcome in ``store``.

    An exception in the operation is recorded (``failed``, with its traceback) and not raised;
    `RunCancelled` and `KeyboardInterrupt` are recorded as ``cancelled`` and re-raised.
    """
    started = time.time()
    record = RunRecord(
        experiment_id,
        spec.run_id,
        spec.params,
        spec.seed,
        RUNNING,
        attempt=attempt,
        started_at=now_iso(started),
        host=socket.gethostname(),
        executor=whereabouts.current(),
    )
    store.begin_run(record)
    capture = Capture(store, experiment_id, spec.run_id, dict(spec.params), spec.seed)
    interrupt: BaseException | None = None
    log_dir = store.run_dir(experiment_id, spec.run_id) / "logs"
    output = captured_output(log_dir) if capture_output else contextlib.nullcontext()
    try:
        with output:
            operation(dict(spec.params), spec.seed, capture)
        record.status = COMPLETED
    except (RunCancelled, KeyboardInterrupt) as exc:
        record.status, record.error = CANCELLED, type(exc).__name__
        interrupt = exc
    except Exception as exc:  # noqa: BLE001 - a failing operation is a recorded outcome
        record.status = FAILED
        record.error = f"{type(exc).__name__}: {exc}"
        record.traceback = traceback.format_exc()
    finished = time.time()
    try:
        capture.flush()
    finally:
        record.metrics = capture.summary
        record.finished_at = now_iso(finished)
        record.duration_s = round(finished - started, 6)
        store.write_run(record)
    if interrupt is not None:
        raise interrupt
    return record


def next_attempt(states: dict[str, RunState], run_id: str) -> int:
    state = states.get(run_id)
    return 1 if state is None else state.attempt + 1
