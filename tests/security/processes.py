"""Processes of the security suite: run as another account, wait for the exec, start times."""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path


def start_time_of(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[19])


def account_argv(user: str, argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` by ``setpriv``, which execs in place (the pid stays ``argv``'s).

    Not ``Popen(user=...)``: that forks this test process without exec'ing first, and the
    gRPC library loaded here runs its fork handlers in the child, which can crash it.
    """
    entry = pwd.getpwnam(user)
    return [
        "setpriv",
        f"--reuid={entry.pw_uid}",
        f"--regid={entry.pw_gid}",
        "--init-groups",
        "--",
        *argv,
    ]


def wait_exec(pid: int, program: str, timeout: float = 10.0) -> None:
    """Wait until ``pid`` runs ``program`` (``setpriv`` has exec'ed it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(os.readlink(f"/proc/{pid}/exe")).name.startswith(program):
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} did not exec {program} within {timeout}s")
