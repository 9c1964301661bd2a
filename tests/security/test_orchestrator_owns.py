"""The orchestrator signals and reads only what it owns, whatever a bundle records.

Each test plants a bundle (as an attacker able to write one would, e.g. through an
unauthenticated ``PutBundle``) and runs the real CLI; the processes it points at are real.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from metalab.core.bundle.files import write_bundle
from metalab_orchestrator.runtime.process import (
    NotOurProcess,
    ProcessRecord,
    terminate_group,
)
from tests.security.owner_helpers import cli, handle, spawn
from tests.security.processes import account_argv, start_time_of, wait_exec

FILE_ONLY = """
[project]
name = "owned"

[environments.local]
type = "local"
file_root = "./runs"
"""


def make_project(root: Path) -> Path:
    project = root / "owned"
    project.mkdir()
    (project / ".metalab.toml").write_text(FILE_ONLY)
    return project


def plant(project: Path, services: dict[str, dict[str, object]]) -> Path:
    path = project / "runs" / "services" / "bundle.json"
    write_bundle(
        path,
        {
            "project": "owned",
            "environment": "local",
            "profile": "local",
            "state": "ready",
            "nonce": "0" * 16,
            "store_locator": str(project / "runs"),
            "services": services,
        },
    )
    return path


def test_down_never_signals_pid_0_1_or_an_unrelated_program(
    open_tmp: Path, victims: list[subprocess.Popen[bytes]]
) -> None:
    project = make_project(open_tmp)
    sleeper = spawn(["sleep", "300"], victims)  # ours, right start time, wrong program
    other = spawn(["sleep", "301"], victims)
    bare: dict[str, object] = {"pid": other, "start_time": start_time_of(other)}  # no host…
    for postgres in (handle(0, 0), handle(1, 0), bare):
        path = plant(
            project, {"atlas": handle(sleeper, start_time_of(sleeper)), "postgres": postgres}
        )
        result = cli(project, "services", "down")
        assert result.returncode == 0, result.stderr
        assert all(v.poll() is None for v in victims)  # still running
        assert not path.exists()  # the hostile record is gone, nothing else is


def test_down_never_signals_another_accounts_process(
    open_tmp: Path, intruder: str, victims: list[subprocess.Popen[bytes]]
) -> None:
    project = make_project(open_tmp)
    # Looks like an Atlas in every way /proc shows, but runs as the other account.
    theirs = spawn(
        account_argv(
            intruder,
            ["/usr/bin/python3", "-c", "import time; time.sleep(300)", "-m", "metalab_atlas"],
        ),
        victims,
        cwd="/",
    )
    wait_exec(theirs, "python3")
    plant(project, {"atlas": handle(theirs, start_time_of(theirs))})
    result = cli(project, "services", "down")
    assert result.returncode == 0, result.stderr
    assert victims[0].poll() is None


def test_a_recycled_pid_is_not_signalled(
    open_tmp: Path, victims: list[subprocess.Popen[bytes]]
) -> None:
    project = make_project(open_tmp)
    mine = spawn([sys.executable, "-c", "import time; time.sleep(300)", "metalab_atlas"], victims)
    plant(project, {"atlas": handle(mine, start_time_of(mine) - 1)})  # an older process's record
    assert cli(project, "services", "down").returncode == 0
    assert victims[0].poll() is None


def test_logs_are_read_from_the_services_directory_not_the_bundle(
    open_tmp: Path, victims: list[subprocess.Popen[bytes]]
) -> None:
    project = make_project(open_tmp)
    secret = project / "postgres.password"
    secret.write_text("TOPSECRET-PASSWORD\n")
    secret.chmod(0o600)
    sleeper = spawn(["sleep", "300"], victims)
    plant(project, {"atlas": handle(sleeper, start_time_of(sleeper), log_path=str(secret))})
    result = cli(project, "services", "logs", "atlas")
    assert "TOPSECRET" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (ProcessRecord(0, 0, 0), "not a service process"),
        (ProcessRecord(1, 0, 1), "not a service process"),
        (ProcessRecord(os.getpid(), 0, 0), "not a service process"),
        (ProcessRecord(os.getpid(), 0, 1234), "own session"),
    ],
)
def test_terminate_group_refuses_before_any_signal(record: ProcessRecord, why: str) -> None:
    with pytest.raises(NotOurProcess, match=why):
        terminate_group(record, 0.1)


def test_terminate_group_refuses_another_accounts_group(
    intruder: str, victims: list[subprocess.Popen[bytes]]
) -> None:
    theirs = spawn(account_argv(intruder, ["sleep", "300"]), victims, cwd="/")
    wait_exec(theirs, "sleep")
    with pytest.raises(NotOurProcess, match="belongs to uid"):
        terminate_group(ProcessRecord(theirs, start_time_of(theirs), theirs), 0.1)
    assert victims[0].poll() is None
