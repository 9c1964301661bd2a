"""SlurmExecutor and SlurmRunHandle against a scripted scheduler (no cluster)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from pathlib import Path

import pytest

from metalab.errors import SchedulerError
from metalab.executor.registry import HandleRegistry
from metalab.executor.slurm import SlurmConfig, SlurmExecutor, SlurmRunHandle, operation_source
from metalab.experiment import Experiment
from metalab.operation import operation
from metalab.params import grid
from metalab.runner import reconnect, run
from metalab.seeds import seeds
from metalab.types import RunRecord
from tests.unit.api import ops


class Scheduler:
    """Answers sbatch with increasing job ids and squeue with the queued jobs."""

    def __init__(self, max_array_size: int = 1001) -> None:
        self.calls: list[list[str]] = []
        self.queued: set[str] = set()
        self.max_array_size = max_array_size
        self.next_id = 100

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> str:
        self.calls.append(list(argv))
        if argv[0] == "scontrol":
            return f"MaxArraySize            = {self.max_array_size}\n"
        if argv[0] == "sbatch":
            self.next_id += 1
            self.queued.add(str(self.next_id))
            return f"{self.next_id}\n"
        if argv[0] == "squeue":
            return "".join(f"{job}_1|PENDING|None||N/A\n" for job in sorted(self.queued))
        if argv[0] == "scancel":
            self.queued.clear()
            return ""
        raise AssertionError(argv)


def experiment(xs: list[int]) -> Experiment:
    return Experiment(
        name="sl",
        version="1",
        context={},
        operation=ops.double,
        params=grid(x=xs),
        seeds=seeds(base=1, replicates=1),
    )


def submit(
    tmp_path: Path, scheduler: Scheduler, config: SlurmConfig, xs: list[int]
) -> SlurmRunHandle:
    executor = SlurmExecutor(config, runner=scheduler)
    handle = run(experiment(xs), store=str(tmp_path), executor=executor, verbose=False)
    assert isinstance(handle, SlurmRunHandle)
    return handle


def test_arrays_are_sharded_and_chained(tmp_path: Path) -> None:
    scheduler = Scheduler(max_array_size=3)
    config = SlurmConfig(
        partition="p",
        chunk_size=2,
        max_concurrent=1,
        gpus=1,
        extra_sbatch={"mail_user": "a@b"},
        modules=["py"],
        setup=["echo hi"],
    )
    handle = submit(tmp_path, scheduler, config, list(range(9)))
    sbatches = [c for c in scheduler.calls if c[0] == "sbatch"]
    assert len(sbatches) == 3  # 5 tasks of 2 runs, arrays of at most 2 tasks
    assert "--dependency=afterany:101" in sbatches[1]
    work = Path(handle.reconnect_locator or "")
    manifest = json.loads((work / "manifest.json").read_text())
    assert manifest["executor_type"] == "slurm"
    assert manifest["job_ids"] == ["101", "102", "103"]
    assert [s["start_idx"] for s in manifest["shards"]] == [0, 4, 8]
    batch = Path(manifest["batch_dir"])
    script = (batch / "array-0001.sh").read_text()
    for line in (
        "#SBATCH --array=0-1%1",
        "#SBATCH --partition=p",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --mail-user=a@b",
        "module load py",
        "echo hi",
        "export METALAB_WORKER=1",
    ):
        assert line in script
    assert script.rstrip().endswith(f'{batch} 2 "$SLURM_ARRAY_TASK_ID"')
    payloads = pickle.loads((batch / "payloads.pkl").read_bytes())
    assert len(payloads) == 9
    source = json.loads((batch / "batch.json").read_text())["operation"]
    assert source == {"ref": "tests.unit.api.ops:double", "script": None}


def test_status_follows_records_and_queue(tmp_path: Path) -> None:
    scheduler = Scheduler()
    handle = submit(tmp_path, scheduler, SlurmConfig(), [1, 2, 3])
    assert handle.status.pending == 3
    run_ids = json.loads((Path(handle.reconnect_locator or "") / "manifest.json").read_text())[
        "run_ids"
    ]
    handle.store.put_run_record(RunRecord.success(run_id=run_ids[0], experiment_id="sl:1"))
    handle.store.put_run_record(RunRecord.running(run_id=run_ids[1], experiment_id="sl:1"))
    handle._queue_cache = None
    status = handle.status
    assert (status.completed, status.running, status.pending) == (1, 1, 1)
    with pytest.raises(TimeoutError):
        handle.result(timeout=0)
    handle.cancel()
    status = handle.status
    assert (status.completed, status.failed, status.in_flight) == (1, 2, 0)
    assert [r.run_id for r in handle.result()] == run_ids[:2]


def test_reconnect_reattaches(tmp_path: Path) -> None:
    scheduler = Scheduler()
    handle = submit(tmp_path, scheduler, SlurmConfig(), [1, 2])
    again = reconnect(handle.reconnect_locator or "", verbose=False)
    assert isinstance(again, SlurmRunHandle)
    assert again.job_id == handle.job_id
    assert again.status.total == 2
    assert HandleRegistry.get("slurm") is SlurmRunHandle


def test_failed_submission_cancels_earlier_arrays(tmp_path: Path) -> None:
    class Refusing(Scheduler):
        def run(self, argv: Sequence[str], timeout: float = 60.0) -> str:
            if argv[0] == "sbatch" and self.next_id == 101:
                self.calls.append(list(argv))
                raise SchedulerError(argv, 1, "sbatch: error: nope")
            return super().run(argv, timeout)

    scheduler = Refusing(max_array_size=2)
    with pytest.raises(SchedulerError, match="nope"):
        submit(tmp_path, scheduler, SlurmConfig(), [1, 2, 3])
    assert ["scancel", "101"] in scheduler.calls


def test_local_operations_cannot_go_to_slurm() -> None:
    @operation
    def local(params: dict[str, int]) -> None: ...

    with pytest.raises(ValueError, match="not importable"):
        operation_source(local)
