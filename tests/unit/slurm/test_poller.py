"""The batched, rate-limited poller (a fake runner counts calls)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from metalab.core.slurm.squeue import GONE, JobInfo
from metalab.errors import SchedulerError
from metalab_orchestrator.backends.slurm.poller import JobPoller
from metalab_orchestrator.backends.slurm.runner import CommandResult, checked

QUEUE = "1234|PENDING|Priority||N/A\n1235|RUNNING|None|cn001|2026-11-25T12:00:00\n"


class FakeRunner:
    target = "fake"

    def __init__(self, answer: str = QUEUE, code: int = 0, stderr: str = "") -> None:
        self.calls: list[list[str]] = []
        self.answer, self.code, self.stderr = answer, code, stderr

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 60,
    ) -> CommandResult:
        self.calls.append(list(argv))
        await asyncio.sleep(0.01)
        return checked(CommandResult(tuple(argv), self.code, self.answer, self.stderr), check)

    async def put_file(self, path: str, data: bytes) -> None:
        raise AssertionError("not used")

    async def read_file(self, path: str) -> bytes | None:
        return None

    async def open_connection(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        return None


def test_concurrent_waiters_share_one_call() -> None:
    async def scenario() -> tuple[FakeRunner, list[dict[str, JobInfo | None]]]:
        runner, poller = FakeRunner(), JobPoller(min_interval=10)
        ids = ("1234", "1235", "1238")
        results = await asyncio.gather(*(poller.jobs(runner, [j]) for j in ids))
        again = await poller.jobs(runner, ["1235"])  # cached: within min_interval
        return runner, [*results, again]

    runner, results = asyncio.run(scenario())
    assert len(runner.calls) <= 2  # the first call, plus one for ids that arrived meanwhile
    assert results[0]["1234"] is not None and results[0]["1234"].state == "PENDING"
    assert results[3]["1235"] is not None and results[3]["1235"].running


def test_rate_limited_then_fresh() -> None:
    async def scenario() -> int:
        runner, poller = FakeRunner(), JobPoller(min_interval=10)
        for _ in range(5):
            await poller.jobs(runner, ["1234"])
        await poller.jobs(runner, ["1234"], fresh=True)
        return len(runner.calls)

    assert asyncio.run(scenario()) == 2


def test_missing_job_is_gone() -> None:
    poller = JobPoller()
    jobs = asyncio.run(poller.jobs(FakeRunner(answer=""), ["99"]))
    assert jobs["99"] == JobInfo("99", GONE)
    assert jobs["99"] is not None and not jobs["99"].active


def test_unknown_job_id_error_means_gone() -> None:
    runner = FakeRunner(answer="", code=1, stderr="slurm_load_jobs error: Invalid job id specified")
    jobs = asyncio.run(JobPoller().jobs(runner, ["99"]))
    assert jobs["99"] is not None and jobs["99"].state == GONE


@pytest.mark.parametrize("stderr", ["Unable to contact slurm controller", "ssh: timeout", ""])
def test_failed_squeue_is_unknown_never_gone(stderr: str) -> None:
    jobs = asyncio.run(JobPoller().jobs(FakeRunner(answer="", code=1, stderr=stderr), ["7"]))
    assert jobs == {"7": None}


def test_choke_point_raises_scheduler_error() -> None:
    with pytest.raises(SchedulerError) as info:
        checked(CommandResult(("scancel", "1"), 1, "", "scancel: error: Kill job error"), True)
    assert info.value.argv == ["scancel", "1"] and info.value.returncode == 1
    assert "Kill job error" in str(info.value)
