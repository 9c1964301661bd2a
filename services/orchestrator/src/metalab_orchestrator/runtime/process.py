"""Detached service processes: spawn, identify (pid-reuse safe), terminate, wait, tail.

Reaping: we keep each child's ``Popen`` handle in a module registry and reap finished children
(``poll``) on every call into this module, and ``terminate_group`` waits on the handle. We do not
double-fork: an orphan is re-parented to PID 1, which on our CI VMs is not an init that reaps
(``process_api``), so a double-forked service would leave zombies there forever; keeping the handle
also turns exec errors into exceptions instead of a dead pid. Detachment (new session and process
group, stdin from /dev/null, output to a log) keeps the service alive when we exit; a process we
did not start (a previous orchestrator's) is re-parented and reaped by whoever holds it, and a
zombie counts as dead here.
"""

from __future__ import annotations

import os
import pwd
import select
import signal
import stat as stat_mod
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import subprocess  # imported where a process is spawned: health checks need none

from metalab.core.errors import MetalabError
from metalab_server.pidfd import Pin, group_members, open_pidfd, signal_group

_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()

_DEAD_STATES = frozenset({"Z", "X", "x"})


class ProcessRecord(NamedTuple):
    """Identity of a detached process: pid plus kernel start time (clock ticks since boot)."""

    pid: int
    start_time: int
    pgid: int


class ProcStat(NamedTuple):
    """The fields of ``/proc/PID/stat`` we use."""

    state: str
    ppid: int
    pgid: int
    start_time: int


def parse_proc_stat(text: str) -> ProcStat:
    """Parse ``/proc/PID/stat``; the command name may hold spaces and parentheses."""
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 of proc(5): state, ppid, pgrp, ..., starttime is field 22.
    return ProcStat(
        state=fields[0], ppid=int(fields[1]), pgid=int(fields[2]), start_time=int(fields[19])
    )


def read_proc_stat(pid: int) -> ProcStat | None:
    """Return the process's stat fields, or None when no such process exists."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return parse_proc_stat(text)


def is_same_live_process(record: ProcessRecord, stat: ProcStat | None) -> bool:
    """True when ``stat`` is the recorded process (same start time) and it has not exited."""
    return (
        stat is not None and stat.start_time == record.start_time and stat.state not in _DEAD_STATES
    )


class NotOurProcess(MetalabError):
    """A recorded process this orchestrator must not signal (another account's, another
    program, pid 0 or 1, a recycled pid)."""


class Ownership(NamedTuple):
    """What a recorded process must be before it is signalled: run by one of ``uids`` (real
    uid) and, when ``executables`` is set, running a program of one of these basenames
    (``python3`` also matches ``python3.12``); ``cmdline`` words it must carry, if any."""

    uids: frozenset[int]
    executables: tuple[str, ...] = ()
    cmdline: tuple[str, ...] = ()

    @classmethod
    def mine(cls, *others: int, executables: tuple[str, ...] = ()) -> Ownership:
        """Processes of this account (plus ``others``, e.g. a ``run_as`` account's uid)."""
        return cls(frozenset({os.geteuid(), *others}), executables)


def _real_uid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _executable_matches(pid: int, names: tuple[str, ...]) -> bool:
    try:
        base = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:  # another account's process (or gone): not ours to vouch for
        return False
    base = base.removesuffix(" (deleted)")  # the binary was upgraded under a running server
    return any(base == n or base.startswith(n + ".") for n in names)


def _cmdline_has(pid: int, words: tuple[str, ...]) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return all(w.encode() in argv for w in words)


def refusal(record: ProcessRecord, owner: Ownership | None = None) -> str | None:
    """Why ``record`` must not be signalled, or None when it is the recorded live process and
    ``owner`` vouches for it (default: run by this account)."""
    if record.pid <= 1 or record.pgid <= 1:
        return f"pid {record.pid}/pgid {record.pgid} is not a service process"
    if record.pgid != record.pid:
        return f"process group {record.pgid} is not pid {record.pid}'s own session"
    stat = read_proc_stat(record.pid)
    if not is_same_live_process(record, stat):
        return None  # gone (or recycled): only its group's leftovers may remain, checked apart
    owner = owner or Ownership.mine()
    uid = _real_uid(record.pid)
    if uid is None or uid not in owner.uids:
        return f"pid {record.pid} belongs to uid {uid}, not to this server's account"
    if owner.executables and not _executable_matches(record.pid, owner.executables):
        return f"pid {record.pid} does not run {' or '.join(owner.executables)}"
    if owner.cmdline and not _cmdline_has(record.pid, owner.cmdline):
        return f"pid {record.pid} is not {' '.join(owner.cmdline)}"
    assert stat is not None
    if stat.pgid != record.pgid:
        return f"pid {record.pid} left process group {record.pgid}"
    return None


def is_ours(record: ProcessRecord, owner: Ownership | None = None) -> bool:
    """True when the recorded process runs and ``owner`` vouches for it."""
    return is_alive(record) and refusal(record, owner) is None


def reap_children() -> None:
    """Collect the exit status of every finished child we started."""
    with _children_lock:
        for pid, handle in list(_children.items()):
            if handle.poll() is not None:
                del _children[pid]


def spawn_detached(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path,
    user: str | None = None,
    umask: int = 0o077,
    record_path: Path | None = None,
) -> ProcessRecord:
    """Start ``argv`` in a new session, output appended to ``log_path`` (created 0600).

    ``user`` switches to that account (uid, primary group and its supplementary groups); only
    root can switch to another account. Raises ``OSError`` when the program cannot be executed
    and ``KeyError`` for an unknown ``user``.

    With ``record_path``, the child is held at a gate (a shell waiting on a pipe) until its pid
    and start time are written there (`write_record`): killed at any instant, the caller leaves
    either no process (the gate reads end-of-file and exits) or a recorded one.
    """
    if record_path is None:
        return _spawn(argv, log_path, env, cwd, user, umask, None)
    if not os.access(argv[0], os.X_OK):  # the gate's shell would only log this
        raise PermissionError(13, "not an executable program", argv[0])
    read_end, write_end = os.pipe()
    gate = 'read -r go && [ "$go" = go ] && exec "$@" </dev/null'
    try:
        gated = ["/bin/sh", "-c", gate, "metalab-gate", *argv]
        record = _spawn(gated, log_path, env, cwd, user, umask, read_end)
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    try:
        write_record(record_path, record)
        os.write(write_end, b"go\n")
    finally:
        os.close(write_end)
    return record


def write_record(path: Path, record: ProcessRecord) -> None:
    """Save ``pid start_time`` atomically, 0600: the services directory's own record."""
    from metalab.core.fs import write_atomic

    write_atomic(path, f"{record.pid} {record.start_time}\n".encode())


def read_record(path: Path) -> ProcessRecord | None:
    """The process ``path`` records, when it is a regular 0600 file of ours that parses."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat_mod.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            return None
        pid_text, start_text = os.read(fd, 64).decode("ascii").split()
        pid, start_time = int(pid_text), int(start_text)
    except (OSError, ValueError):  # unreadable, not ASCII, not two integers
        return None
    finally:
        os.close(fd)
    if pid <= 1 or start_time < 0:
        return None
    return ProcessRecord(pid, start_time, pid)


def _spawn(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path,
    user: str | None,
    umask: int,
    stdin: int | None,
) -> ProcessRecord:
    """Start ``argv`` detached; ``stdin`` is a descriptor to read, or None for /dev/null."""
    reap_children()
    uid: int | None = None
    gid: int | None = None
    groups: list[int] | None = None
    if user is not None:
        entry = pwd.getpwnam(user)
        if entry.pw_uid != os.geteuid():  # switching to ourselves would need CAP_SETGID
            uid, gid, groups = entry.pw_uid, entry.pw_gid, os.getgrouplist(user, entry.pw_gid)
    import subprocess

    fd = open_log(log_path)
    try:
        handle = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=fd,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
            umask=umask,
            user=uid,
            group=gid,
            extra_groups=groups,
        )
    finally:
        os.close(fd)
    record = adopt(handle)
    if record is None:  # pragma: no cover - an unreaped child always has a /proc entry
        raise ChildProcessError(f"process {handle.pid} vanished right after start")
    return record


def open_log(log_path: Path) -> int:
    """``log_path`` opened for appending (created 0600): a detached service's output."""
    return os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)


def adopt(handle: subprocess.Popen[bytes]) -> ProcessRecord | None:
    """Keep ``handle`` with the children this module reaps; its identity, or None when its
    /proc entry is gone."""
    with _children_lock:
        _children[handle.pid] = handle
    stat = read_proc_stat(handle.pid)
    if stat is None:
        return None
    return ProcessRecord(pid=handle.pid, start_time=stat.start_time, pgid=stat.pgid)


def is_alive(record: ProcessRecord) -> bool:
    """True when the recorded process still runs (a reused pid or a zombie is not alive)."""
    reap_children()
    return is_same_live_process(record, read_proc_stat(record.pid))


def _member_verifier(record: ProcessRecord, owner: Ownership) -> Callable[[int], bool]:
    """Whether a pid is a running member of the recorded group, of an allowed account, while
    the group's id is not some newer process's pid (the old group would be gone then)."""

    def verify(pid: int) -> bool:
        stat = read_proc_stat(pid)
        if stat is None or stat.pgid != record.pgid or stat.state in _DEAD_STATES:
            return False
        holder = read_proc_stat(record.pgid)
        if holder is not None and holder.start_time != record.start_time:
            return False
        return _real_uid(pid) in owner.uids

    return verify


def _signal_group(
    record: ProcessRecord, sig: signal.Signals, owner: Ownership, leader: Pin | None
) -> None:
    """Signal the group while its pinned leader (vouched for) still exists; without a leader,
    each member of an allowed account alone, each pinned and checked (`pidfd.signal_group`)."""
    signal_group(record.pgid, sig, leader, _member_verifier(record, owner))


def _group_gone(record: ProcessRecord) -> bool:
    reap_children()
    stat = read_proc_stat(record.pid)
    if stat is not None and stat.start_time != record.start_time:
        # The pid was reused, so the recorded group (pgid == pid) is long gone: the kernel
        # allocates no pid that is still some group's id. Its owner is someone else.
        return True
    if is_same_live_process(record, stat):
        return False
    return not group_members(record.pgid)


def _pin_leader(record: ProcessRecord, owner: Ownership) -> Pin | None:
    """The recorded leader held by a pidfd opened *before* its identity is checked again (see
    `pidfd`); None when it has exited. `NotOurProcess` when the check now refuses it."""
    try:
        fd = open_pidfd(record.pid)
    except ProcessLookupError:
        return None
    held = Pin(record.pid, fd)
    reason = refusal(record, owner)
    if reason is not None:
        held.close()
        raise NotOurProcess(reason)
    if not is_same_live_process(record, read_proc_stat(record.pid)):
        held.close()
        return None
    return held


def terminate_group(
    record: ProcessRecord,
    grace: float = 5.0,
    *,
    first_signal: signal.Signals = signal.SIGTERM,
    leader_only: bool = False,
    owner: Ownership | None = None,
) -> None:
    """Send ``first_signal`` (to the group, or the leader only), SIGKILL the group after
    ``grace`` seconds, and return once the leader and every group member are gone.

    Nothing is signalled unless the leader is the recorded process (same start time) and
    ``owner`` (default: this account) vouches for it; `NotOurProcess` says why not. The leader
    is signalled through a pidfd opened before that check (`pidfd.pin`), so a pid recycled in
    between is never hit. Members left behind by a leader that already died are killed too
    when they run as an account of ``owner``, each through its own checked pidfd. Idempotent.
    """
    owner = owner or Ownership.mine()
    reason = refusal(record, owner)
    if reason is not None:
        raise NotOurProcess(reason)
    if _group_gone(record):
        return
    leader = _pin_leader(record, owner)
    try:
        deadline = time.monotonic() + grace
        if leader_only:
            if leader is not None:
                leader.send(first_signal)
        else:
            _signal_group(record, first_signal, owner, leader)
        _await_exit(leader, grace)
        if wait_for(lambda: _group_gone(record), max(0.0, deadline - time.monotonic())):
            return
        _signal_group(record, signal.SIGKILL, owner, leader)
        if not wait_for(lambda: _group_gone(record), 10.0):
            raise TimeoutError(f"process group {record.pgid} survived SIGKILL")
    finally:
        if leader is not None:
            leader.close()


def _await_exit(leader: Pin | None, timeout: float) -> None:
    """Return once the pinned leader has exited, or after ``timeout``: woken by its pidfd, so
    `down` learns of the exit when it happens, not at the next poll. Returns at once without
    a pidfd (polling then does all the waiting)."""
    if leader is not None and leader.fd is not None:
        select.select([leader.fd], [], [], timeout)


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.01,
    *,
    max_interval: float = 0.2,
) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass, backing off from ``interval``.

    Returns whether the predicate became true; it is always checked once more at the deadline.
    """
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        if predicate():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 1.5, max_interval)


def tail(log_path: Path, n: int = 20, *, max_bytes: int = 65536) -> str:
    """The last ``n`` lines of ``log_path`` (at most ``max_bytes``), or "" when it is missing."""
    try:
        with open(log_path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-n:])
