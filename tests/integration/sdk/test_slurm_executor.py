"""SLURM job arrays against the real single-node cluster, through upstream's API."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import metalab
from tests.integration.sdk import ops
from tests.integration.sdk.waiting import wait_for
from tests.integration.settings.helpers import experiment, records

pytestmark = pytest.mark.slurm


def slurm(partition: str, **settings: Any) -> metalab.SlurmExecutor:
    config = metalab.SlurmConfig(partition=partition, time="0:10:00", memory="200M", **settings)
    return metalab.SlurmExecutor(config)


def in_queue(job_ids: Sequence[str]) -> list[str]:
    out = subprocess.run(
        ["squeue", "--noheader", "--format=%i", f"--jobs={','.join(job_ids)}"],
        capture_output=True,
        text=True,
    )
    return out.stdout.split() if out.returncode == 0 else []


def job_ids(handle: Any) -> list[str]:
    ids: list[str] = handle._job_ids
    return ids


def statuses(results: metalab.Results) -> Counter[str]:
    return Counter(run.status.value for run in results)


def run_sweep(n: int, slurm_partition: str, shared_dir: Path) -> None:
    started = time.monotonic()
    handle = metalab.run(
        ops.sweep(f"arr{n}", ops.noop, n),
        store=str(shared_dir),
        executor=slurm(slurm_partition, max_concurrent=2),
    )
    submitted = time.monotonic() - started
    try:
        results = handle.result(timeout=60 + 3 * n)
    finally:
        handle.cancel()
    elapsed = time.monotonic() - started
    print(f"\n{n} runs: submit {submitted:.2f}s, total {elapsed:.1f}s ({n / elapsed:.1f} runs/s)")
    assert len(job_ids(handle)) == 1
    assert statuses(results) == {"success": n}
    assert sorted(run.metrics["x"] for run in results) == list(range(n))


def test_sweep_runs_as_one_array_and_lands_in_the_store(slurm_partition, shared_dir, caplog):
    caplog.set_level(logging.INFO, "metalab")
    run_sweep(20, slurm_partition, shared_dir)
    assert "Executor: SlurmExecutor" in caplog.text and "'max_concurrent': 2" in caplog.text


@pytest.mark.slow
def test_200_run_sweep_with_max_concurrent_2(slurm_partition, shared_dir):
    run_sweep(200, slurm_partition, shared_dir)


def test_failing_run_records_traceback_and_others_finish(slurm_partition, shared_dir):
    handle = metalab.run(
        ops.sweep("fails", ops.fail_on_three, 6),
        store=str(shared_dir),
        executor=slurm(slurm_partition),
    )
    results = handle.result(timeout=120)
    assert statuses(results) == {"success": 5, "failed": 1}
    (failed,) = results.failed
    assert failed.error is not None and failed.error["type"] == "RuntimeError"
    assert "three is bad" in failed.error["message"]
    assert "RuntimeError: three is bad" in failed.error["traceback"]
    log = handle.store.get_log(failed.run_id, "run") or ""
    assert "running 3" in log


def test_resume_after_scancel_runs_only_what_is_missing(slurm_partition, shared_dir, caplog):
    exp = ops.sweep("resume", ops.slow, 12, sleep=1.0)
    first = metalab.run(
        exp, store=str(shared_dir), executor=slurm(slurm_partition, max_concurrent=2)
    )
    wait_for(lambda: first.status.completed >= 2, 120, "two completed runs")
    first.cancel()
    wait_for(lambda: in_queue(job_ids(first)) == [], 30, "the cancelled array to leave the queue")
    done_before = {
        r.run_id for r in first.store.list_run_records() if r.status == metalab.Status.SUCCESS
    }
    assert 2 <= len(done_before) < 12
    caplog.set_level(logging.INFO, "metalab")
    second = metalab.run(exp, store=str(shared_dir), executor=slurm(slurm_partition))
    assert second.status.skipped == len(done_before)
    assert f"{len(done_before)} already completed (resume)" in caplog.text
    results = second.result(timeout=240)
    assert statuses(results) == {"success": 12}


def test_cancel_leaves_no_job_in_squeue(slurm_partition, shared_dir):
    handle = metalab.run(
        ops.sweep("cancel", ops.slow, 50, sleep=30),
        store=str(shared_dir),
        executor=slurm(slurm_partition, max_concurrent=2),
    )
    wait_for(lambda: in_queue(job_ids(handle)) != [], 30, "the array to be queued")
    handle.cancel()
    wait_for(lambda: in_queue(job_ids(handle)) == [], 30, "the cancelled array to leave the queue")


def test_ctrl_c_while_waiting_with_progress_cancels(slurm_partition, shared_dir):
    handle = metalab.run(
        ops.sweep("ctrlc", ops.slow, 10, sleep=30),
        store=str(shared_dir),
        executor=slurm(slurm_partition),
        progress=True,
    )
    # Python's own Ctrl+C handler, whatever an earlier test's event loop left installed (a
    # loop's no-op handler swallows `interrupt_main`: the wait then ran into its timeout).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            handle.result(timeout=60)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    jobs = job_ids(handle._handle)  # type: ignore[attr-defined]
    wait_for(lambda: in_queue(jobs) == [], 30, "the cancelled array to leave the queue")


def test_settings_env_reaches_array_tasks_and_result_archives(
    slurm_partition, shared_dir, monkeypatch
):
    settings = shared_dir / "settings.yaml"
    settings.write_text(
        "env: {ML_GLOBAL: g, ML_WS: g}\n"
        "workspaces:\n"
        "  - id: cluster-ws\n    path: ws\n    env: {ML_WS: w}\n"
        "    folders: [{path: backup, mode: backup}]\n"
    )
    monkeypatch.setenv("METALAB_SETTINGS", str(settings))
    handle = metalab.run(
        experiment("slurm-env", n=3), executor=slurm(slurm_partition), env={"ML_RUN": "r"}
    )
    ws = shared_dir / "ws" / "slurm-env_1"
    (script,) = ws.glob("slurm/*/array-*.sh")
    assert "export ML_RUN=r" in script.read_text()
    assert script.stat().st_mode & 0o077 == 0
    results = handle.result(timeout=180)
    assert statuses(results) == {"success": 3}
    seen = [json.loads((ws / "artifacts" / r.run_id / "env.json").read_text()) for r in results]
    assert seen == [{"ML_GLOBAL": "g", "ML_WS": "w", "ML_RUN": "r", "ML_API_TOKEN": None}] * 3
    assert sorted(records(shared_dir / "backup" / "slurm-env_1")) == sorted(
        r.run_id for r in results
    )
