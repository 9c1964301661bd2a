"""`services down`/`up` on the real cluster when the bundle naming the job is gone or corrupt.

The job is then found among the caller's own jobs by the name and working directory the
backend gave it; a job of the same name run from another project's directory is left alone.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.slurm.project import Project

pytestmark = pytest.mark.slurm


def up(project: Project) -> subprocess.CompletedProcess[str]:
    return project.cli("services", "up", "--env", "slurm")


def held_job(name: str, workdir: Path, user: str | None = None) -> str:
    """A job held in the queue, named ``name``, run from ``workdir``, submitted by ``user``
    (default: this account)."""
    workdir.mkdir(parents=True, exist_ok=True)
    as_user = ["runuser", "-u", user, "--"] if user else []
    submitted = subprocess.run(
        [*as_user, "sbatch", "--parsable", "--hold", "-p", "debug", "-t", "5:00", "-J", name, "-D"]
        + [str(workdir), "-o", "/dev/null"],
        input="#!/bin/sh\nsleep 300\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return submitted.stdout.strip().split(";")[0]


@pytest.fixture
def decoys(tmp_path: Path) -> Iterator[list[str]]:
    jobs: list[str] = []
    yield jobs
    if jobs:
        subprocess.run(["scancel", *jobs], check=False, timeout=30)


def state_of(job: str) -> str:
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-j", job, "-o", "%T"], capture_output=True, text=True
    )
    return out.stdout.strip()


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_down_without_a_readable_bundle_cancels_the_environments_job(
    project: Project, damage: str, decoys: list[str], tmp_path: Path, intruder: str
) -> None:
    project.configure(slurm={"time": "5:00"})
    assert up(project).returncode == 0
    bundle = project.services_dir / "bundle.json"
    job = str(project.bundle()["job_id"])  # type: ignore[index]
    # Same name, another project's directory; our directory, a job of another name.
    decoys.append(
        held_job(
            f"metalab-{project.name}-slurm-{secrets.token_hex(8)}",
            tmp_path / "other" / "services" / "slurm",
        )
    )
    decoys.append(held_job("my-analysis", project.services_dir / "slurm"))
    # Another account's job, named and placed exactly like ours.
    lookalike = f"metalab-{project.name}-slurm-{secrets.token_hex(8)}"
    decoys.append(held_job(lookalike, project.services_dir / "slurm", intruder))
    if damage == "deleted":
        bundle.unlink()
    else:
        bundle.write_bytes(bundle.read_bytes()[:40])
    down = project.cli("services", "down", "--env", "slurm")
    assert down.returncode == 0, down.stderr
    assert f"cancelling job {job}" in down.stderr
    assert state_of(job) not in ("RUNNING", "PENDING", "COMPLETING")
    assert set(project.active_jobs()) == {decoys[0], decoys[2]}
    assert [state_of(d) for d in decoys] == ["PENDING"] * 3
    assert not bundle.exists()


def test_up_without_the_bundle_submits_no_second_job(project: Project) -> None:
    project.configure(slurm={"time": "5:00"})
    assert up(project).returncode == 0
    first = str(project.bundle()["job_id"])  # type: ignore[index]
    (project.services_dir / "bundle.json").unlink()
    again = up(project)
    assert again.returncode == 0, again.stderr
    assert f"job {first} has no bundle" in again.stderr
    second = str(project.bundle()["job_id"])  # type: ignore[index]
    assert second != first
    assert list(project.active_jobs()) == [second]
