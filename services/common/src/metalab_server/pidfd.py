"""Signal a verified process through a pidfd, so a pid recycled after the check is never hit.

`pin` opens a pidfd *first* and verifies the process's identity (start time, owner,
executable — read from ``/proc/PID``) *after*: the descriptor then names the verified process.
Had the pinned process exited and its pid been taken before the check, the check reads the
newcomer (a later start time) and refuses; a recorded process started before the descriptor was
opened, so it cannot be a newcomer at that pid. Signals go through ``pidfd_send_signal``, which
answers ``ESRCH`` once the pinned process has exited, whoever holds its pid number by then.

Where pidfds are unavailable (``ENOSYS``: a kernel before 5.3; ``EPERM``: a seccomp filter that
refuses unknown system calls), a pin falls back to the pid: the check still runs right before
the signal, and the window between the two is a few microseconds.

Shared by the orchestrator (recorded services) and the tunnel daemon (its own ``ssh``
children): `signal_group` is how either signals a process group, which ``killpg`` cannot do
through a pidfd.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable
from pathlib import Path

_UNAVAILABLE = frozenset({errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP})
_DEAD_STATES = frozenset({"Z", "X", "x"})


class Pin:
    """A process held by a pidfd (``fd``), or by its pid where pidfds are unavailable."""

    def __init__(self, pid: int, fd: int | None) -> None:
        self.pid = pid
        self.fd = fd

    def send(self, sig: int) -> bool:
        """Signal the pinned process; False when it has exited (signal 0: is it alive?)."""
        try:
            if self.fd is None:
                os.kill(self.pid, sig)
            else:
                signal.pidfd_send_signal(self.fd, sig)
        except ProcessLookupError:
            return False
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Pin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_pidfd(pid: int) -> int | None:
    """A pidfd for ``pid``; None where pidfds are unavailable. ``ProcessLookupError`` when no
    process has that pid."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except ProcessLookupError:
        raise
    except OSError as exc:
        if exc.errno in _UNAVAILABLE:
            return None
        raise


def pin(pid: int, verify: Callable[[int], bool]) -> Pin | None:
    """Hold ``pid`` when ``verify(pid)`` holds once the pidfd is open; None when it does not
    or the process is gone. The caller closes the pin."""
    try:
        fd = open_pidfd(pid)
    except ProcessLookupError:
        return None
    held = Pin(pid, fd)
    try:
        if verify(pid):
            return held
    except BaseException:
        held.close()
        raise
    held.close()
    return None


def signal_verified(pid: int, sig: int, verify: Callable[[int], bool]) -> bool:
    """Send ``sig`` to ``pid`` when ``verify`` vouches for it (see `pin`); True when sent."""
    held = pin(pid, verify)
    if held is None:
        return False
    with held:
        return held.send(sig)


def _group_and_state(pid: int) -> tuple[int, str] | None:
    """``(pgid, state)`` from ``/proc/PID/stat``; None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the command name may hold ") "
    return int(fields[2]), fields[0]


def group_members(pgid: int) -> list[int]:
    """Pids of the running (non-zombie) processes in process group ``pgid``."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            found = _group_and_state(int(entry.name))
            if found is not None and found[0] == pgid and found[1] not in _DEAD_STATES:
                members.append(int(entry.name))
    return members


def signal_group(pgid: int, sig: int, leader: Pin | None, member: Callable[[int], bool]) -> None:
    """Signal process group ``pgid`` whose leader ``leader`` pins.

    While the pinned leader exists (a zombie included) the group's id cannot be reused, so
    ``killpg`` is safe — it has no pidfd form. Without a leader, each member that ``member``
    vouches for is signalled alone through its own pidfd, checked after it is opened (a group
    whose leader is gone may be anybody's by now).
    """
    if leader is not None and leader.send(0):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
        return
    for pid in group_members(pgid):
        signal_verified(pid, sig, member)
