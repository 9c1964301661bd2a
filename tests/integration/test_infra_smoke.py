"""Smoke tests: the real components scripts/infra/ci-setup.sh provides actually work."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.components import (
    PG_BIN,
    PG_USER,
    postgres_missing,
    require,
    slurm_missing,
)
from tests.support.ports import free_port
from tests.support.sshd import SshServer, keygen, sshd_missing


def run(argv: list[str], timeout: float = 60) -> str:
    # cwd=/: a command run as another user must not start in a directory it cannot enter.
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd="/")
    assert done.returncode == 0, f"{argv} -> {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


# --- SLURM -----------------------------------------------------------------------------------


def sbatch(*args: str) -> str:
    return run(["sbatch", "--parsable", *args]).strip().split(";")[0]


def wait_gone_from_squeue(job: str, timeout: float = 60) -> None:
    """Poll squeue (no sacct here) until the job has left the active queue."""
    deadline = time.monotonic() + timeout
    while run(["squeue", "--noheader", "--jobs", job, "--format", "%i %T"]).strip():
        assert time.monotonic() < deadline, f"job {job} still queued after {timeout}s"
        time.sleep(0.2)


def final_states(job: str) -> list[str]:
    """States of a finished job and its array tasks, while slurmctld remembers them."""
    out = run(["squeue", "--noheader", "--jobs", job, "--states", "all", "--format", "%T"])
    return out.split()


@pytest.fixture
def slurm() -> None:
    require(slurm_missing())


@pytest.mark.slurm
def test_sbatch_job_runs_to_completion(slurm: None, tmp_path: Path) -> None:
    nonce = uuid.uuid4().hex
    out = tmp_path / "job.out"
    job = sbatch(f"--output={out}", f"--chdir={tmp_path}", "--wrap", f"echo {nonce}")
    wait_gone_from_squeue(job)
    assert final_states(job) == ["COMPLETED"]
    assert out.read_text().strip() == nonce


@pytest.mark.slurm
def test_sbatch_array_and_scancel(slurm: None, tmp_path: Path) -> None:
    array = sbatch(
        "--array=0-2", f"--output={tmp_path}/%a.out", "--wrap", "echo $SLURM_ARRAY_TASK_ID"
    )
    sleeper = sbatch("--output=/dev/null", "--wrap", "sleep 300")
    run(["scancel", sleeper])
    wait_gone_from_squeue(array)
    wait_gone_from_squeue(sleeper)
    assert final_states(array) == ["COMPLETED"] * 3
    assert final_states(sleeper) == ["CANCELLED"]
    assert sorted((tmp_path / f"{i}.out").read_text().strip() for i in range(3)) == ["0", "1", "2"]


# --- PostgreSQL ------------------------------------------------------------------------------


def as_pg_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses root: as root, run it as the unprivileged test user."""
    return ["runuser", "-u", PG_USER, "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture
def pg_workdir() -> Iterator[Path]:
    """A scratch dir the server's user can reach (pytest's tmp_path is root-only, 0700)."""
    require(postgres_missing())
    path = Path(tempfile.mkdtemp(prefix="metalab-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        user = pwd.getpwnam(PG_USER)
        os.chown(path, user.pw_uid, user.pw_gid)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.postgres
def test_postgres_initdb_start_query_stop(pg_workdir: Path) -> None:
    data, port = pg_workdir / "data", free_port()
    initdb = [str(PG_BIN / "initdb"), "--no-sync", "--auth=trust", "--username=postgres"]
    run(as_pg_user([*initdb, "--encoding=UTF8", "--locale=C.UTF-8", "-D", str(data)]))
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-w"]
    options = f"-p {port} -k {pg_workdir} -c listen_addresses=127.0.0.1"
    run(as_pg_user([*pg_ctl, "-o", options, "-l", str(pg_workdir / "pg.log"), "start"]))
    try:
        psql = [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
        assert run([*psql, "-Atc", "select current_user, 40 + 2"]).strip() == "postgres|42"
    finally:
        run(as_pg_user([*pg_ctl, "-m", "fast", "stop"]))
    assert not (data / "postmaster.pid").exists()


# --- OpenSSH ---------------------------------------------------------------------------------


@pytest.fixture
def ssh_server(tmp_path: Path) -> Iterator[SshServer]:
    require(sshd_missing())
    with SshServer(tmp_path / "sshd") as server:
        yield server


@pytest.mark.sshd
def test_ssh_key_login_with_pinned_host_key(ssh_server: SshServer) -> None:
    run(ssh_server.ssh_argv("true"), timeout=30)
    assert run(ssh_server.ssh_argv("echo", "hello")).strip() == "hello"


@pytest.mark.sshd
def test_ssh_rejects_unknown_host_key(ssh_server: SshServer, tmp_path: Path) -> None:
    keygen(tmp_path / "impostor", "impostor")
    impostor = (tmp_path / "impostor.pub").read_text()
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[{ssh_server.host}]:{ssh_server.port} {impostor}")
    argv = ssh_server.ssh_argv("true", known_hosts=wrong)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 255
    assert "host key" in done.stderr.lower()


@pytest.mark.sshd
@pytest.mark.slurm
def test_sbatch_over_ssh_gateway(slurm: None, ssh_server: SshServer) -> None:
    """The real "gateway" setup: submit and poll through sshd on loopback."""
    job = run(ssh_server.ssh_argv("sbatch", "--parsable", "--output=/dev/null", "--wrap", "true"))
    job = job.strip().split(";")[0]
    deadline = time.monotonic() + 60
    while run(ssh_server.ssh_argv("squeue", "--noheader", "--jobs", job)).strip():
        assert time.monotonic() < deadline, f"job {job} still queued"
        time.sleep(0.2)
    assert final_states(job) == ["COMPLETED"]
