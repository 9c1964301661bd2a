"""`SlurmExecutor`: a sweep becomes job arrays (one ``sbatch`` per array, never one per run).

Payloads are JSON data files under the store's filesystem; each array task runs
``python -m metalab._sweep.slurm_task PAYLOAD_DIR $SLURM_ARRAY_TASK_ID``; results return
through the store. Status comes from ``squeue`` only (no ``sacct``).
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from metalab._fs import write_atomic
from metalab._sweep.base import SweepPlan
from metalab._sweep.config import SlurmExecutorConfig
from metalab._sweep.scheduler import LocalRunner, SchedulerRunner
from metalab._sweep.slurm_script import (
    array_spec,
    chunks,
    job_name,
    parse_job_id,
    parse_max_array_size,
    render_array_script,
    sbatch_argv,
    squeue_argv,
)
from metalab.errors import SchedulerError

log = logging.getLogger("metalab._sweep.slurm")
PAYLOAD_VERSION = 1
CANCEL_WAIT_SECONDS = 30.0
SBATCH_TIMEOUT = 30.0
BUSY = "temporarily unable to accept job"


class SlurmExecutor:
    type_name = "slurm"

    def __init__(self, config: SlurmExecutorConfig, runner: SchedulerRunner | None = None) -> None:
        self.config = config
        self.runner = runner or LocalRunner()
        self._max_array_size: int | None = None

    @property
    def settings(self) -> dict[str, Any]:
        return asdict(self.config)

    def max_array_size(self) -> int:
        if self._max_array_size is None:
            self._max_array_size = parse_max_array_size(
                self.runner.run(["scontrol", "show", "config"])
            )
        return self._max_array_size

    def submit(self, plan: SweepPlan) -> SlurmHandle:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        root = plan.work_dir / "slurm" / f"{stamp}-{secrets.token_hex(3)}"
        python = self.config.python or sys.executable
        common = {
            "version": PAYLOAD_VERSION,
            "experiment_id": plan.experiment_id,
            "operation": plan.operation,
            "store": plan.store.to_json(),
            "python_path": plan.python_path,
            "capture_output": plan.capture_output,
        }
        job_ids: list[str] = []
        previous: str | None = None
        parts = chunks(len(plan.runs), self.max_array_size())
        try:
            for number, chunk in enumerate(parts):
                directory = root / f"array-{number:04d}"
                (directory / "logs").mkdir(parents=True, exist_ok=True)
                tasks = [
                    {**spec.to_json(), "attempt": plan.attempts.get(spec.run_id, 1)}
                    for spec in plan.runs[chunk.start : chunk.start + chunk.count]
                ]
                payload = json.dumps({**common, "tasks": tasks}, separators=(",", ":"))
                write_atomic(directory / "payload.json", payload.encode(), 0o600)
                script = render_array_script(
                    config=self.config,
                    name=job_name(plan.experiment_id),
                    array=array_spec(chunk.count, self.config.max_concurrent),
                    python=python,
                    payload_dir=str(directory),
                    env=plan.env,
                )
                script_path = directory / "job.sh"
                write_atomic(script_path, script.encode(), 0o700)
                # With a concurrency limit, arrays run one after another so the limit holds
                # for the whole sweep (afterany: a failed run never blocks the rest).
                dependency = (
                    f"afterany:{previous}" if previous and self.config.max_concurrent else None
                )
                argv = sbatch_argv(
                    str(script_path), str(directory / "logs" / "%A_%a.out"), dependency
                )
                out = self._sbatch(argv, chunk.count)
                try:
                    previous = parse_job_id(out)
                except ValueError as exc:
                    raise SchedulerError(argv, 0, str(exc)) from None
                job_ids.append(previous)
        except BaseException:
            if job_ids:
                log.warning(
                    "submission failed; cancelling arrays already submitted: %s", ", ".join(job_ids)
                )
                SlurmHandle(self.runner, job_ids, root).cancel()
            raise
        log.info(
            "submitted %d run(s) as %d array job(s): %s",
            len(plan.runs),
            len(job_ids),
            ", ".join(job_ids),
        )
        return SlurmHandle(self.runner, job_ids, root)

    def _sbatch(self, argv: list[str], tasks: int) -> str:
        try:
            return self.runner.run(argv, timeout=SBATCH_TIMEOUT)
        except SchedulerError as exc:
            if BUSY not in exc.stderr:
                raise
            hint = (
                f"slurmctld would not accept an array of {tasks} task(s): every array task "
                "counts against MaxJobCount (finished jobs too, for MinJobAge); submit a "
                "smaller sweep or raise MaxJobCount in slurm.conf"
            )
            raise SchedulerError(argv, exc.returncode, f"{exc.stderr}\n{hint}") from None


class SlurmHandle:
    """Submitted arrays: polled with one ``squeue`` per call, cancelled with ``scancel``."""

    def __init__(self, runner: SchedulerRunner, job_ids: list[str], work_dir: Path) -> None:
        self.runner = runner
        self.job_ids = job_ids
        self.work_dir = work_dir
        self.last_states: dict[str, str] = {}

    def describe(self) -> str:
        return f"SLURM array job(s) {', '.join(self.job_ids)} (payloads in {self.work_dir})"

    def queue(self) -> list[tuple[str, str, str]] | None:
        """``(job, state, reason)`` for every queue entry; None when squeue failed."""
        if not self.job_ids:
            return []
        try:
            out = self.runner.run(squeue_argv(self.job_ids))
        except SchedulerError as exc:
            if "invalid job id" in exc.stderr.lower():
                return []  # every job left the queue and slurmctld forgot it
            log.warning("squeue failed (state unknown, will retry): %s", exc)
            return None
        rows = []
        for line in out.splitlines():
            fields = line.strip().split("|")
            if len(fields) >= 2:
                rows.append((fields[0], fields[1], fields[2] if len(fields) > 2 else ""))
        return rows

    def active(self) -> bool | None:
        rows = self.queue()
        if rows is None:
            return None
        self.last_states = {job: state for job, state, _ in rows}
        return bool(rows)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def cancel(self) -> None:
        """``scancel`` every array (exit code checked), then wait until squeue shows none."""
        if not self.job_ids:
            return
        self.runner.run(["scancel", *self.job_ids])
        deadline = time.monotonic() + CANCEL_WAIT_SECONDS
        delay = 0.2
        while time.monotonic() < deadline:
            rows = self.queue()
            if rows == []:
                return
            time.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        log.warning(
            "jobs %s still listed by squeue %.0fs after scancel",
            ", ".join(self.job_ids),
            CANCEL_WAIT_SECONDS,
        )
