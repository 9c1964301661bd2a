"""Set-up for the security suite: a real second Unix account and planted bundles."""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI

INTRUDER = "metalab-intruder"


@pytest.fixture(scope="session")
def intruder() -> str:
    """A second local account (created with ``useradd`` when the suite runs as root)."""
    try:
        pwd.getpwnam(INTRUDER)
        return INTRUDER
    except KeyError:
        pass
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("the security suite needs root to create a second account")
        pytest.skip("needs root to create a second local account")
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", INTRUDER],
        check=True,
        capture_output=True,
    )
    return INTRUDER


def start_time_of(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[19])


@pytest.fixture
def victims() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a hostile record points at; each must still run when a test checks it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()
