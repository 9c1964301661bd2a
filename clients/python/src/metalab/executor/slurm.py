"""`SlurmExecutor`: runs become SLURM job arrays; results come back through the store.

A batch's payloads are written once under the store's working directory
(``slurm/<stamp>-<token>/``) and submitted as one ``sbatch`` array per
``max_array_size`` tasks (each task runs ``chunk_size`` payloads with
``python -m metalab.executor.slurm_task``). Scheduler commands are built and read by the
SLURM command layer :mod:`metalab.core.slurm` (quoting, argv builders, parsers) and run by
:mod:`metalab.executor.scheduler` (``LocalRunner``).

Workers import the operation. An operation defined in the script being run is
imported from the script's file as module ``__mp_main__`` (the ``__main__`` guard is
false there); a top-level ``metalab.run(...)`` outside the guard ends that import (see
`metalab.executor.slurm_task.load_script`), so scripts work with or without the guard
and a worker never submits a second sweep.

``manifest.json`` in the store's working directory lets ``metalab.reconnect`` reattach
to the batch from another session.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
import secrets
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from metalab._placement import exported_env
from metalab.core.fs import write_atomic
from metalab.core.slurm.commands import (
    SCONTROL_CONFIG,
    array_spec,
    chunks,
    job_name,
    parse_job_id,
    parse_max_array_size,
    q,
    sbatch_argv,
    scancel_argv,
)
from metalab.core.slurm.squeue import parse_squeue, squeue_argv, unknown_job
from metalab.errors import SchedulerError
from metalab.executor.scheduler import LocalRunner, SchedulerRunner

if TYPE_CHECKING:
    from metalab.events import Event, EventCallback
    from metalab.executor.handle import RunStatus
    from metalab.executor.payload import RunPayload
    from metalab.operation import OperationWrapper
    from metalab.result import Results
    from metalab.store.base import Store
    from metalab.types import RunRecord

logger = logging.getLogger(__name__)

DEFAULT_MAX_ARRAY_SIZE = 10000
DEFAULT_PARTITION = "default"
"""The documented default partition: the cluster's own default (no ``--partition``)."""
TASK_MODULE = "metalab.executor.slurm_task"
BATCH_FILE = "batch.json"
PAYLOADS_FILE = "payloads.pkl"
MANIFEST_FILE = "manifest.json"
_SCRIPT_MODULES = ("__main__", "__mp_main__")
_SBATCH_TIMEOUT = 30.0
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUEUE_TTL = 1.0


@dataclass
class SlurmConfig:
    """Resources and environment of each array task.

    Attributes:
        partition: Partition (queue) name; ``"default"`` leaves the choice to the
            cluster's default partition.
        time: Walltime per task, e.g. ``"1:00:00"``.
        cpus: CPUs per task.
        memory: Memory per task, e.g. ``"4G"``.
        gpus: GPUs per task (``--gres=gpu:N``).
        max_concurrent: Tasks running at once (``--array=...%N``); arrays of one
            batch then run one after another so the limit holds for the batch.
        max_array_size: Tasks per array at most (capped by the cluster's MaxArraySize).
        chunk_size: Runs per array task.
        modules: ``module load`` before the task.
        conda_env: Conda environment to activate.
        setup: Shell lines run before the task (verbatim).
        extra_sbatch: More ``#SBATCH`` options; ``mail_user`` becomes ``--mail-user``.
    """

    partition: str = DEFAULT_PARTITION
    time: str = "1:00:00"
    cpus: int = 1
    memory: str = "4G"
    gpus: int = 0
    max_concurrent: int | None = None
    max_array_size: int = DEFAULT_MAX_ARRAY_SIZE
    chunk_size: int = 1
    modules: list[str] = field(default_factory=list)
    conda_env: str | None = None
    setup: list[str] = field(default_factory=list)
    extra_sbatch: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("cpus", "max_array_size", "chunk_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"SlurmConfig.{name} must be >= 1 (got {getattr(self, name)})")
        if self.gpus < 0:
            raise ValueError(f"SlurmConfig.gpus must be >= 0 (got {self.gpus})")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError(f"SlurmConfig.max_concurrent must be >= 1 (got {self.max_concurrent})")


def _working_directory(store: Store) -> Path:
    from metalab.store import SupportsWorkingDirectory

    if isinstance(store, SupportsWorkingDirectory):
        return Path(store.get_working_directory())
    raise TypeError(
        "SLURM executor requires a store that supports filesystem access "
        f"(SupportsWorkingDirectory capability). Got {type(store).__name__}."
    )


def operation_source(operation: OperationWrapper) -> dict[str, str | None]:
    """Where a worker finds the operation: its ref, and its script's path if it has one.

    Raises:
        ValueError: for operations no other process can import (local functions, lambdas).
    """
    ref = operation.ref
    module_name, _, qualname = ref.partition(":")
    if "<" in qualname:
        raise ValueError(
            f"SLURM workers import the operation, but {ref} is not importable; "
            "define it at the top level of a module or script"
        )
    script = None
    if module_name in _SCRIPT_MODULES:
        path = getattr(sys.modules.get(module_name), "__file__", None)
        if not path:
            raise ValueError(
                f"SLURM workers import the operation, but {ref} was defined interactively; "
                "define it in a module or script file"
            )
        script = str(Path(path).resolve())
    return {"ref": ref, "script": script}


def render_task_script(
    config: SlurmConfig,
    name: str,
    array: str,
    batch_dir: Path,
    offset: int,
    env: Mapping[str, str] | None = None,
) -> str:
    """The sbatch script of one array (task ``i`` runs payload chunk ``offset + i``).

    ``env`` (the user settings' environment, see `metalab._placement.exported_env`) is
    exported before modules, conda and ``setup``; the script is written mode 0700.
    """
    directives: list[tuple[str, object]] = [("job-name", name), ("array", array)]
    if config.partition and config.partition != DEFAULT_PARTITION:
        directives.append(("partition", config.partition))
    directives += [
        ("time", config.time),
        ("cpus-per-task", config.cpus),
        ("mem", config.memory),
        ("ntasks", 1),
    ]
    if config.gpus:
        directives.append(("gres", f"gpu:{config.gpus}"))
    directives += [(key.replace("_", "-"), value) for key, value in config.extra_sbatch.items()]
    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH --{key}={q(value)}" for key, value in directives]
    lines += ["", "set -eo pipefail", "export METALAB_WORKER=1"]
    for variable, value in (env or {}).items():
        if not _ENV_NAME.fullmatch(variable):
            raise ValueError(f"not an environment variable name: {variable!r}")
        lines.append(f"export {variable}={q(value)}")
    lines += [f"module load {q(module)}" for module in config.modules]
    if config.conda_env:
        lines.append('eval "$(conda shell.bash hook)"')
        lines.append(f"conda activate {q(config.conda_env)}")
    lines += list(config.setup)
    lines.append(
        f'exec {q(sys.executable)} -m {TASK_MODULE} {q(batch_dir)} {offset} "$SLURM_ARRAY_TASK_ID"'
    )
    return "\n".join(lines) + "\n"


class SlurmExecutor:
    """Submits batches to SLURM as job arrays (see the module docstring)."""

    def __init__(self, config: SlurmConfig | None = None, runner: SchedulerRunner | None = None):
        self._config = config or SlurmConfig()
        self._runner: SchedulerRunner = runner or LocalRunner()
        self._cluster_max_array_size: int | None = None

    @property
    def config(self) -> SlurmConfig:
        """This executor's settings."""
        return self._config

    def _array_size(self) -> int:
        if self._cluster_max_array_size is None:
            try:
                shown = self._runner.run(SCONTROL_CONFIG)
                self._cluster_max_array_size = parse_max_array_size(shown)
            except SchedulerError as exc:
                logger.warning("scontrol show config failed; arrays of at most 1000: %s", exc)
                self._cluster_max_array_size = 1001
        return max(1, min(self._config.max_array_size, self._cluster_max_array_size - 1))

    def submit(
        self,
        payloads: list[RunPayload],
        store: Store,
        operation: OperationWrapper,
        run_ids: list[str] | None = None,
    ) -> SlurmRunHandle:
        """Write the payloads and submit them as job arrays; returns at once."""
        all_run_ids = run_ids if run_ids is not None else [p.run_id for p in payloads]
        submitted = {p.run_id for p in payloads}
        skipped = [rid for rid in all_run_ids if rid not in submitted]
        work_dir = _working_directory(store)
        batch_dir = work_dir / "slurm" / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        experiment_id = payloads[0].experiment_id if payloads else ""
        job_ids: list[str] = []
        shards: list[dict[str, Any]] = []
        if payloads:
            job_ids, shards = self._submit_arrays(payloads, operation, batch_dir)
        manifest = {
            "experiment_id": experiment_id,
            "executor_type": "slurm",
            "submission_mode": "payload_array",
            "job_ids": job_ids,
            "shards": shards,
            "total_runs": len(all_run_ids),
            "chunk_size": self._config.chunk_size,
            "skipped_count": len(skipped),
            "run_ids": all_run_ids,
            "skipped_run_ids": skipped,
            "max_array_size": self._config.max_array_size,
            "store_root": str(work_dir),
            "batch_dir": str(batch_dir),
            "submitted_at": datetime.now().isoformat(),
        }
        work_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(work_dir / MANIFEST_FILE, json.dumps(manifest, indent=2).encode(), 0o644)
        return SlurmRunHandle(
            store,
            job_ids,
            shards,
            len(all_run_ids),
            chunk_size=self._config.chunk_size,
            skipped_count=len(skipped),
            run_ids=all_run_ids,
            skipped_run_ids=skipped,
            runner=self._runner,
        )

    def _submit_arrays(
        self, payloads: list[RunPayload], operation: OperationWrapper, batch_dir: Path
    ) -> tuple[list[str], list[dict[str, Any]]]:
        source = operation_source(operation)
        chunk_size = self._config.chunk_size
        (batch_dir / "logs").mkdir(parents=True, exist_ok=True)
        batch = {
            "version": 1,
            "operation": source,
            "python_path": [p for p in sys.path if p],
            "chunk_size": chunk_size,
        }
        write_atomic(batch_dir / BATCH_FILE, json.dumps(batch).encode())
        data = pickle.dumps([p.to_dict() for p in payloads], protocol=pickle.HIGHEST_PROTOCOL)
        write_atomic(batch_dir / PAYLOADS_FILE, data)
        tasks = -(-len(payloads) // chunk_size)
        name = job_name(payloads[0].experiment_id)
        job_ids: list[str] = []
        shards: list[dict[str, Any]] = []
        try:
            for number, part in enumerate(chunks(tasks, self._array_size())):
                script = render_task_script(
                    self._config,
                    name,
                    array_spec(part.count, self._config.max_concurrent),
                    batch_dir,
                    part.start,
                    exported_env(),
                )
                script_path = batch_dir / f"array-{number:04d}.sh"
                write_atomic(script_path, script.encode(), 0o700)
                previous = job_ids[-1] if job_ids else None
                dependency = (
                    f"afterany:{previous}" if previous and self._config.max_concurrent else None
                )
                argv = sbatch_argv(
                    str(script_path),
                    output_pattern=str(batch_dir / "logs" / "%A_%a.out"),
                    dependency=dependency,
                )
                out = self._runner.run(argv, timeout=_SBATCH_TIMEOUT)
                try:
                    job_id = parse_job_id(out)
                except ValueError as exc:
                    raise SchedulerError(argv, 0, str(exc)) from None
                job_ids.append(job_id)
                first = part.start * chunk_size
                last = min(len(payloads), (part.start + part.count) * chunk_size)
                shards.append({"start_idx": first, "end_idx": last, "job_id": job_id})
        except BaseException:
            cancelled = not job_ids
            if job_ids:
                logger.warning("submission failed; cancelling arrays %s", ", ".join(job_ids))
                cancelled = _scancel(self._runner, job_ids)
            if cancelled:
                _remove_plan(batch_dir)
            raise
        logger.info(
            "Submitted %d run(s) as %d SLURM array(s): %s",
            len(payloads),
            len(job_ids),
            ", ".join(job_ids),
        )
        return job_ids, shards

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to release: submitted jobs belong to the cluster."""

    def __enter__(self) -> SlurmExecutor:
        return self

    def __exit__(self, exc_type: object, exc_val: object, exc_tb: object) -> None:
        self.shutdown(wait=True)


def _scancel(runner: SchedulerRunner, job_ids: list[str]) -> bool:
    """Cancel *job_ids*; False (and a warning) when ``scancel`` failed."""
    try:
        runner.run(scancel_argv(job_ids))
    except SchedulerError as exc:
        logger.warning("scancel %s failed: %s", " ".join(job_ids), exc)
        return False
    return True


def _remove_plan(batch_dir: Path) -> None:
    """Remove a submission's folder that no job will read (and ``slurm/`` if now empty)."""
    shutil.rmtree(batch_dir, ignore_errors=True)
    try:
        batch_dir.parent.rmdir()
    except OSError:
        pass


class SlurmRunHandle:
    """Follows a SLURM batch through the store's records and ``squeue``.

    Events: ``run_started``/``run_finished``/``run_failed`` as the records change,
    ``run_skipped`` for runs resume skipped, and a ``progress`` event (completed, total,
    running) at each poll of :meth:`result`.

    A run is completed or failed once its final record is in the store; a run without
    one counts as pending (running, with a ``running`` record) while the batch's jobs
    are queued, and as failed once they have left the queue.
    """

    executor_type: ClassVar[str] = "slurm"

    def __init__(
        self,
        store: Store,
        job_ids: list[str],
        shards: list[dict[str, Any]],
        total_runs: int,
        chunk_size: int = 1,
        skipped_count: int = 0,
        on_event: EventCallback | None = None,
        *,
        run_ids: list[str] | None = None,
        skipped_run_ids: list[str] | None = None,
        runner: SchedulerRunner | None = None,
        poll_interval: float = 2.0,
    ) -> None:
        self._store = store
        self._job_ids = job_ids
        self._shards = shards
        self._total_runs = total_runs
        self._chunk_size = chunk_size
        self._skipped_ids = list(skipped_run_ids or [])
        self._skipped_count = len(self._skipped_ids) if skipped_run_ids else skipped_count
        skipped = set(self._skipped_ids)
        self._run_ids = run_ids
        self._executed = [rid for rid in run_ids or [] if rid not in skipped]
        self._on_event = on_event
        self._runner: SchedulerRunner = runner or LocalRunner()
        self._poll_interval = poll_interval
        self._states: dict[str, str] = {}
        self._queue_cache: tuple[float, bool | None] | None = None
        self._report_skipped()

    @property
    def job_id(self) -> str:
        """The first array's job id."""
        return self._job_ids[0] if self._job_ids else "slurm-no-jobs"

    @property
    def store(self) -> Store:
        """The store the runs are written to."""
        return self._store

    @property
    def can_reconnect(self) -> bool:
        """Always true: ``metalab.reconnect(store)`` reattaches to the batch."""
        return True

    @property
    def reconnect_locator(self) -> str | None:
        """The store's working directory."""
        try:
            return str(_working_directory(self._store))
        except TypeError:
            return None

    def set_event_callback(self, callback: EventCallback | None) -> None:
        """Send events to ``callback``; skipped runs are reported to it."""
        self._on_event = callback
        if callback is not None:
            self._report_skipped()

    def _jobs_queued(self) -> bool | None:
        """Whether any of the batch's jobs is still queued (None: squeue failed)."""
        now = time.monotonic()
        if self._queue_cache is not None and now - self._queue_cache[0] < _QUEUE_TTL:
            return self._queue_cache[1]
        queued: bool | None
        if not self._job_ids:
            queued = False
        else:
            try:
                out = self._runner.run(squeue_argv(self._job_ids))
                queued = bool(parse_squeue(out))
            except SchedulerError as exc:
                if unknown_job(exc.stderr):
                    queued = False
                else:
                    logger.warning("squeue failed (will retry): %s", exc)
                    queued = None
        self._queue_cache = (now, queued)
        return queued

    def _records(self) -> dict[str, RunRecord]:
        records = self._store.list_run_records()
        if self._run_ids is None:
            return {r.run_id: r for r in records}
        wanted = set(self._executed)
        return {r.run_id: r for r in records if r.run_id in wanted}

    @property
    def status(self) -> RunStatus:
        """Current counts (one store listing and at most one ``squeue`` a second)."""
        from metalab.executor.handle import RunStatus

        records = self._records()
        queued = self._jobs_queued()
        lost = queued is False
        counts = {"success": 0, "failed": 0, "running": 0}
        executed = self._executed if self._run_ids is not None else list(records)
        for run_id in executed:
            record = records.get(run_id)
            state = record.status.value if record is not None else "pending"
            if state in ("failed", "cancelled"):
                state = "failed"
            elif state in ("running", "pending") and lost:
                state = "lost"
            self._observe(run_id, state, record)
            if state in counts:
                counts[state] += 1
            elif state == "lost":
                counts["failed"] += 1
        total = self._total_runs
        pending = total - self._skipped_count - sum(counts.values())
        return RunStatus(
            total=total,
            completed=counts["success"],
            running=counts["running"],
            pending=0 if lost else max(0, pending),
            failed=counts["failed"] + (max(0, pending) if lost else 0),
            skipped=self._skipped_count,
        )

    @property
    def is_complete(self) -> bool:
        """True once every run is finished or the batch's jobs have left the queue."""
        return self.status.in_flight == 0

    def result(self, timeout: float | None = None) -> Results:
        """Wait until the batch is finished and return its runs' records.

        Raises:
            TimeoutError: if it is not finished within ``timeout`` seconds.
        """
        from metalab.events import Event
        from metalab.result import Results

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status
            self._emit(
                Event.progress(
                    None, current=status.completed, total=status.total, running=status.running
                )
            )
            if status.in_flight == 0:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"SLURM job(s) {', '.join(self._job_ids)} not finished")
            time.sleep(self._poll_interval)
        if self._run_ids is None:
            return Results(store=self._store, records=self._store.list_run_records())
        records = [
            record
            for run_id in self._run_ids
            if (record := self._store.get_run_record(run_id)) is not None
        ]
        return Results(store=self._store, records=records)

    def cancel(self) -> None:
        """``scancel`` the batch's arrays."""
        if self._job_ids:
            _scancel(self._runner, self._job_ids)
            self._queue_cache = None

    @classmethod
    def from_store(cls, store: Store, on_event: EventCallback | None = None) -> SlurmRunHandle:
        """Reattach to the batch described by the store's ``manifest.json``.

        Raises:
            FileNotFoundError: without a manifest.
            ValueError: if the manifest is not a SLURM batch's.
        """
        path = _working_directory(store) / MANIFEST_FILE
        if not path.exists():
            raise FileNotFoundError(
                f"No manifest found at {path}. Cannot reconnect without a manifest."
            )
        manifest = json.loads(path.read_text())
        executor_type = manifest.get("executor_type", "slurm")
        if executor_type != "slurm":
            raise ValueError(
                f"Cannot reconnect to executor type '{executor_type}' using SlurmRunHandle. "
                "Only 'slurm' executors support reconnection."
            )
        return cls(
            store,
            list(manifest.get("job_ids", [])),
            list(manifest.get("shards", [])),
            int(manifest.get("total_runs", 0)),
            chunk_size=int(manifest.get("chunk_size", 1)),
            skipped_count=int(manifest.get("skipped_count", 0)),
            on_event=on_event,
            run_ids=manifest.get("run_ids"),
            skipped_run_ids=manifest.get("skipped_run_ids"),
        )

    def _emit(self, event: Event) -> None:
        from metalab.events import emit_event

        emit_event(self._on_event, event)

    def _report_skipped(self) -> None:
        from metalab.events import Event

        ids = self._skipped_ids or [f"slurm-skip-{i}" for i in range(self._skipped_count)]
        for run_id in ids:
            self._emit(Event.run_skipped(run_id, reason="already exists"))

    def _observe(self, run_id: str, state: str, record: RunRecord | None) -> None:
        """Emit the event of a run's state change."""
        from metalab.events import Event

        if self._states.get(run_id) == state:
            return
        self._states[run_id] = state
        if state == "running":
            self._emit(Event.run_started(run_id))
        elif state == "success" and record is not None:
            self._emit(
                Event.run_finished(run_id, duration_ms=record.duration_ms, metrics=record.metrics)
            )
        elif state == "failed":
            message = record.error.get("message", "") if record and record.error else ""
            self._emit(Event.run_failed(run_id, error=message))
        elif state == "lost":
            self._emit(Event.run_failed(run_id, error="job left the queue without a result"))
