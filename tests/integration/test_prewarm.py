"""The pre-warmed Atlas of a cold `services up` (`metalab.core.prewarm`, `metalab_atlas.prewarm`):
it never outlives an `up` that does not start it, and dies with its parent until started.

Real processes throughout: ``python -m metalab_atlas --prewarm``, its parent, the `metalab` CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from metalab.core import prewarm
from metalab_orchestrator.runtime.process import wait_for
from tests.support.prewarm import MODULE, is_gone, prewarmed_children_of

METALAB = str(Path(sys.executable).parent / "metalab")
GONE_WITHIN = 30.0  # a bound on the wait, not a measurement


def _warmed(pid: int) -> bool:
    """The child has loaded part of its stack (asyncio's compiled core is mapped: uvicorn)."""
    try:
        return "/_asyncio." in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.fixture
def pending() -> Iterator[None]:
    yield None
    prewarm.discard_all()


def test_an_unused_child_exits_when_discarded(pending: None) -> None:
    prewarm.start(MODULE, drop_env="METALAB_TOKEN")
    child = prewarm._pending[MODULE]
    prewarm.discard_all()
    assert child.process.wait(GONE_WITHIN) == 0


def test_a_child_started_otherwise_is_not_taken(pending: None) -> None:
    prewarm.start(MODULE, drop_env="METALAB_TOKEN")
    child = prewarm._pending[MODULE]
    env = {**child.env, "METALAB_SOMETHING_NEW": "1"}
    assert prewarm.take(MODULE, env, sys.executable) is None
    assert child.process.wait(GONE_WITHIN) == 0
    prewarm.start(MODULE, drop_env="METALAB_TOKEN")
    other = prewarm._pending[MODULE]
    assert prewarm.take(MODULE, other.env, "/usr/bin/python3-elsewhere") is None
    assert other.process.wait(GONE_WITHIN) == 0


def test_a_malformed_start_serves_nothing(pending: None, tmp_path: Path) -> None:
    prewarm.start(MODULE, drop_env="METALAB_TOKEN")
    child = prewarm.take(MODULE, prewarm._pending[MODULE].env, sys.executable)
    assert child is not None
    log = os.open(tmp_path / "log", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        child.go({"args": "--store x", "token": "t", "cwd": "/"}, [log])
    finally:
        os.close(log)
    assert child.process.wait(GONE_WITHIN) == 0
    assert (tmp_path / "log").read_text() == ""


def test_a_started_child_serves_its_arguments_into_its_log(pending: None, tmp_path: Path) -> None:
    prewarm.start(MODULE, drop_env="METALAB_TOKEN")
    child = prewarm.take(MODULE, prewarm._pending[MODULE].env, sys.executable)
    assert child is not None
    log_path = tmp_path / "atlas.log"
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:  # an invalid port: the argument parser's own error, in the log, exit 2
        child.go({"args": ["--store", "x", "--port", "nope"], "token": "t", "cwd": "/"}, [log])
    finally:
        os.close(log)
    assert child.process.wait(GONE_WITHIN) == 2
    assert "argument --port: invalid int value: 'nope'" in log_path.read_text()


PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    from metalab.core import prewarm
    prewarm.start("metalab_atlas", drop_env="METALAB_TOKEN")
    child = prewarm._pending["metalab_atlas"]
    holder = None
    if sys.argv[1] == "hold":  # keep the socket open elsewhere: only the death signal is left
        holder = subprocess.Popen(["sleep", "600"], pass_fds=[child.sock.fileno()])
    print(child.pid, holder.pid if holder else 0, flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("when", ["importing", "warmed"])
@pytest.mark.parametrize("socket_held", [False, True])
def test_the_child_dies_with_its_parent_before_its_start(when: str, socket_held: bool) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, "hold" if socket_held else "close"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    holder = 0
    try:
        assert parent.stdout is not None
        child_text, holder_text = parent.stdout.readline().split()
        child, holder = int(child_text), int(holder_text)
        if when == "warmed":
            assert wait_for(lambda: _warmed(child), GONE_WITHIN)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert wait_for(lambda: is_gone(child), GONE_WITHIN), f"pre-warmed child {child} survived"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if holder:
            os.kill(holder, signal.SIGKILL)


def test_an_up_that_fails_early_leaves_no_child(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [METALAB, "services", "up"],
        cwd=tmp_path,  # not a project: `up` refuses in one line
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 2, err
    assert "Traceback" not in err
    assert wait_for(lambda: not prewarmed_children_of(process.pid), GONE_WITHIN), (
        prewarmed_children_of(process.pid)
    )
