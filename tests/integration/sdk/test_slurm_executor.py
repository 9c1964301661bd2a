"""SLURM job arrays against the real single-node cluster."""

import _thread
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import pytest

from metalab._sdk import legacy as metalab
from metalab._sweep.slurm import SlurmExecutor, SlurmHandle
from tests.integration.sdk import ops
from tests.integration.sdk.conftest import wait_for

pytestmark = pytest.mark.slurm


def slurm(partition: str, **settings: object) -> SlurmExecutor:
    return cast(
        SlurmExecutor,
        metalab.executor_from_config(
            "slurm", {"partition": partition, "time": "0:10:00", "memory": "200M", **settings}
        ),
    )


def in_queue(job_ids: Sequence[str]) -> list[str]:
    out = subprocess.run(
        ["squeue", "--noheader", "--format=%i", f"--jobs={','.join(job_ids)}"],
        capture_output=True,
        text=True,
    )
    return out.stdout.split() if out.returncode == 0 else []


def sweep(name: str, op: Callable[..., object], n: int, **params: object) -> metalab.Experiment:
    return metalab.Experiment(
        name, op, params=metalab.param_list([{"i": i, **params} for i in range(n)]), seeds=[0]
    )


def run_sweep(n: int, slurm_partition: str, shared_dir: Path) -> metalab.Result:
    exp = sweep(f"arr{n}", ops.noop, n)
    started = time.monotonic()
    result = metalab.run(exp, store=shared_dir, executor=slurm(slurm_partition, max_concurrent=2))
    submitted = time.monotonic() - started
    try:
        result.wait(timeout=60 + 3 * n)
    finally:
        result.cancel()
    elapsed = time.monotonic() - started
    print(f"\n{n} runs: submit {submitted:.2f}s, total {elapsed:.1f}s ({n / elapsed:.1f} runs/s)")
    assert isinstance(result.handle, SlurmHandle) and len(result.handle.job_ids) == 1
    assert result.status_counts() == {"completed": n}
    assert sorted(r.metrics["x"] for r in result.runs()) == list(range(n))
    return result


def test_sweep_runs_as_one_array_and_lands_in_the_store(slurm_partition, shared_dir, caplog):
    caplog.set_level(logging.INFO, "metalab")
    run_sweep(20, slurm_partition, shared_dir)
    assert "executor: slurm" in caplog.text and "'max_concurrent': 2" in caplog.text


@pytest.mark.skipif(os.environ.get("METALAB_SLOW") != "1", reason="slow: set METALAB_SLOW=1")
def test_200_run_sweep_with_max_concurrent_2(slurm_partition, shared_dir):
    run_sweep(200, slurm_partition, shared_dir)


def test_failing_run_records_traceback_and_others_finish(slurm_partition, shared_dir):
    result = metalab.run(
        sweep("fails", ops.fail_on_three, 6), store=shared_dir, executor=slurm(slurm_partition)
    )
    result.wait(timeout=120)
    assert result.status_counts() == {"completed": 5, "failed": 1}
    failed = next(r for r in result.runs() if r.status == "failed")
    assert failed.error is not None and failed.traceback is not None
    assert "three is bad" in failed.error and "RuntimeError" in failed.traceback
    log = result.store.run_dir("fails", failed.run_id) / "logs" / "stdout.txt"
    assert log.read_text() == "running 3\n"


def test_resume_after_scancel_runs_only_what_is_missing(slurm_partition, shared_dir, caplog):
    exp = sweep("resume", ops.slow, 12, sleep=1.0)
    first = metalab.run(exp, store=shared_dir, executor=slurm(slurm_partition, max_concurrent=2))
    wait_for(lambda: first.status_counts().get("completed", 0) >= 2, 120, "two completed runs")
    first.cancel()
    assert in_queue(first.handle.job_ids) == []
    done_before = {r.run_id for r in first.runs() if r.status == "completed"}
    assert 2 <= len(done_before) < 12
    caplog.set_level(logging.INFO, "metalab")
    second = metalab.run(exp, store=shared_dir, executor=slurm(slurm_partition))
    assert second.submitted == 12 - len(done_before)
    assert f"already_done={len(done_before)}" in caplog.text
    second.wait(timeout=240)
    assert second.status_counts() == {"completed": 12}
    attempts = {r.run_id: r.attempt for r in second.runs()}
    assert all(attempts[rid] == 1 for rid in done_before)


def test_cancel_leaves_no_job_in_squeue(slurm_partition, shared_dir):
    result = metalab.run(
        sweep("cancel", ops.slow, 50, sleep=30),
        store=shared_dir,
        executor=slurm(slurm_partition, max_concurrent=2),
    )
    job_ids = result.handle.job_ids
    wait_for(lambda: in_queue(job_ids) != [], 30, "the array to be queued")
    result.cancel()
    assert in_queue(job_ids) == []


def test_ctrl_c_during_wait_cancels(slurm_partition, shared_dir):
    result = metalab.run(
        sweep("ctrlc", ops.slow, 10, sleep=30), store=shared_dir, executor=slurm(slurm_partition)
    )
    timer = threading.Timer(2.0, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        result.wait(timeout=60)
    timer.cancel()
    assert in_queue(result.handle.job_ids) == []


def test_settings_env_reaches_array_tasks_and_wait_archives(
    slurm_partition, shared_dir, monkeypatch
):
    from tests.integration.settings import ops as probe_ops

    settings = shared_dir / "settings.yaml"
    settings.write_text(
        "env: {ML_GLOBAL: g, ML_WS: g}\n"
        "workspaces:\n"
        "  - id: cluster-ws\n    path: ws\n    env: {ML_WS: w}\n"
        "    folders: [{path: backup, mode: backup}]\n"
    )
    monkeypatch.setenv("METALAB_SETTINGS", str(settings))
    exp = metalab.Experiment(
        "slurm-env",
        probe_ops.probe,
        params=metalab.param_list([{"i": i} for i in range(3)]),
        seeds=[0],
    )
    result = metalab.run(exp, executor=slurm(slurm_partition), env={"ML_RUN": "r"})
    job_script = next((shared_dir / "ws" / "slurm-env" / ".metalab").glob("slurm/*/*/job.sh"))
    assert "export ML_RUN=r" in job_script.read_text()
    assert job_script.stat().st_mode & 0o077 == 0
    result.wait(timeout=180)
    assert result.status_counts() == {"completed": 3}
    runs = shared_dir / "ws" / "slurm-env" / "runs"
    seen = [
        json.loads((runs / r.run_id / "artifacts" / "env.json").read_text()) for r in result.runs()
    ]
    assert seen == [{"ML_GLOBAL": "g", "ML_WS": "w", "ML_RUN": "r", "ML_API_TOKEN": None}] * 3
    backup = shared_dir / "backup" / "slurm-env" / "runs"
    assert sorted(p.name for p in backup.iterdir()) == sorted(r.run_id for r in result.runs())
