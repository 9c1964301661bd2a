"""Signals go through a pidfd opened before the identity check: a pid recycled in between,
here by another account's process, is never hit.

The recycling is real: the recorded process is killed and reaped, then the kernel is asked to
hand its pid to the second account's next process (``/proc/sys/kernel/ns_last_pid``, root).
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metalab_orchestrator.runtime.process import ProcessRecord, terminate_group, wait_for
from metalab_server import pidfd
from tests.security.processes import account_argv, start_time_of, wait_exec

LAST_PID = Path("/proc/sys/kernel/ns_last_pid")


def sleeper(user: str | None = None) -> subprocess.Popen[bytes]:
    argv = ["sleep", "300"] if user is None else account_argv(user, ["sleep", "300"])
    process = subprocess.Popen(argv, start_new_session=True, cwd="/")
    if user is not None:
        wait_exec(process.pid, "sleep")
    return process


def take_pid(pid: int, user: str | None) -> subprocess.Popen[bytes]:
    """A process of ``user`` whose pid is ``pid`` (free by now): retried while other processes
    on the machine take it first."""
    if os.geteuid() != 0 or not os.access(LAST_PID, os.W_OK):
        pytest.skip("recycling a chosen pid needs root (ns_last_pid)")
    for _ in range(200):
        LAST_PID.write_text(str(pid - 1))
        process = sleeper(user)
        if process.pid == pid:
            return process
        process.kill()
        process.wait()
    pytest.fail(f"could not recycle pid {pid}")


@pytest.fixture
def intruders() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def test_a_pid_recycled_after_the_check_is_not_signalled(
    intruder: str, intruders: list[subprocess.Popen[bytes]]
) -> None:
    mine = sleeper()
    record = ProcessRecord(mine.pid, start_time_of(mine.pid), mine.pid)
    held = pidfd.pin(mine.pid, lambda pid: start_time_of(pid) == record.start_time)
    assert held is not None and held.fd is not None  # pidfds are available here
    with held:
        mine.kill()
        mine.wait()  # reaped: its pid is free
        theirs = take_pid(record.pid, intruder)
        intruders.append(theirs)
        os.kill(record.pid, 0)  # a signal by pid number would reach the other account's process
        assert not held.send(15)  # through the pidfd: ESRCH, nothing sent
        assert not held.send(0)
    assert theirs.poll() is None


def test_the_check_runs_after_the_pidfd_is_open(
    intruder: str, intruders: list[subprocess.Popen[bytes]]
) -> None:
    """The pid is recycled before the pidfd is opened: the check reads the newcomer and refuses."""
    mine = sleeper()
    record = ProcessRecord(mine.pid, start_time_of(mine.pid), mine.pid)
    time.sleep(0.05)  # start times count 10 ms ticks: the newcomer must start in a later one
    mine.kill()
    mine.wait()
    intruders.append(take_pid(record.pid, intruder))
    assert not pidfd.signal_verified(
        record.pid, 15, lambda pid: start_time_of(pid) == record.start_time
    )
    assert intruders[0].poll() is None


def test_terminate_group_reaches_the_group_through_the_pinned_leader() -> None:
    leader = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"], start_new_session=True)
    try:
        record = ProcessRecord(leader.pid, start_time_of(leader.pid), leader.pid)
        assert wait_for(lambda: len(_group(leader.pid)) == 3, 10.0)
        members = [p for p in _group(leader.pid) if p != leader.pid]
        terminate_group(record, 5.0)
        assert leader.poll() is not None
        assert not [p for p in members if Path(f"/proc/{p}").exists() and _running(p)]
    finally:
        leader.kill()
        leader.wait()


def test_without_pidfds_the_check_still_precedes_the_signal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kernel or seccomp filter without pidfd_open (ENOSYS, EPERM): signals go by pid."""

    def unavailable(pid: int) -> int:
        raise OSError(errno.ENOSYS, "pidfd_open")

    monkeypatch.setattr(os, "pidfd_open", unavailable)
    victim = sleeper()
    try:
        assert not pidfd.signal_verified(victim.pid, 15, lambda pid: False)
        assert victim.poll() is None
        held = pidfd.pin(victim.pid, lambda pid: True)
        assert held is not None and held.fd is None
        assert held.send(9)
        assert victim.wait(timeout=10) == -9
    finally:
        victim.kill()
        victim.wait()


def _group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _running(int(entry.name)):
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            if int(text[text.rindex(")") + 2 :].split()[2]) == pgid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] not in "ZXx"


def test_a_tunnel_masters_group_is_signalled_only_while_it_is_ours(
    intruder: str, intruders: list[subprocess.Popen[bytes]]
) -> None:
    """The tunnel daemon's ssh master (`openssh.Leader`): once the leader is reaped, only the
    members left in its group that are this account's are signalled, and a new process given
    the group's number is not (before, ``killpg`` hit both)."""
    import signal

    from metalab_tunnel.openssh import Leader

    master = subprocess.Popen(["sleep", "300"], process_group=0, cwd="/")  # its own group
    intruders.append(master)
    held = Leader.of_child(master.pid)
    assert held.pin is not None and held.pin.fd is not None
    # Members of its group (children of this test, so that they are reaped here): one of this
    # account, one of the second account.
    mine = subprocess.Popen(["sleep", "300"], process_group=master.pid, cwd="/")
    other = subprocess.Popen(
        account_argv(intruder, ["sleep", "300"]), process_group=master.pid, cwd="/"
    )
    intruders.extend([mine, other])
    wait_exec(other.pid, "sleep")

    os.kill(master.pid, signal.SIGKILL)
    master.wait()  # reaped: the group lives on in its members
    held.signal_group(signal.SIGKILL)
    assert mine.wait(10) == -signal.SIGKILL
    assert other.poll() is None  # the second account's process is left alone
    other.kill()
    other.wait()

    # The number is free now: a new process of this very account gets it, in a group of its own.
    newcomer = take_pid(master.pid, None)
    intruders.append(newcomer)
    held.signal_group(signal.SIGKILL)
    time.sleep(0.2)
    assert newcomer.poll() is None
    held.close()
