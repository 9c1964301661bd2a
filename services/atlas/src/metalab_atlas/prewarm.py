"""``python -m metalab_atlas --prewarm PARENT``: import the stack now, serve when told to.

The child side of `metalab.core.prewarm`. It dies with its parent's spawning thread
(``PR_SET_PDEATHSIG``, then a check that the parent did not die before that took effect),
imports what serving needs, then waits on its standard input, a socket: end-of-file (the start
was not needed, or the parent is gone) exits 0 with nothing done. A start message holds Atlas's
arguments, its token, its working directory, and the log's descriptor beside it; the child then
clears the death signal (its identity is recorded by then), points its output at the log and
its input at /dev/null, and serves exactly as ``python -m metalab_atlas ARGS`` would, the
import error of the warm-up (if any) reported in the log first.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
MAX_MESSAGE = 65536
Serve = Callable[[list[str], "str | None"], int]


def run(argv: list[str], serve: Serve) -> int:
    """Warm up, wait for the start, serve it; 0 at once when none comes."""
    if len(argv) != 1 or not argv[0].isdigit():
        print("atlas: error: --prewarm takes the parent's pid", file=sys.stderr)
        return 2
    if not _die_with(int(argv[0])):
        return 0
    failure = _warm_up()
    start = _receive()
    if start is None:
        return 0
    (args, token, cwd), log_fd = start
    _set_death_signal(0)
    _attach(log_fd, cwd)
    if failure is not None:
        raise failure
    return serve(args, token or None)


def _set_death_signal(sig: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _die_with(parent: int) -> bool:
    """SIGKILL this process when its parent's thread exits; False when it already has."""
    _set_death_signal(signal.SIGKILL)
    return os.getppid() == parent


def _warm_up() -> BaseException | None:
    """Import what serving imports; the error, if any, to raise once the log is ours."""
    try:
        import uvicorn  # noqa: F401

        import metalab.core.redact  # noqa: F401
        import metalab_atlas.app  # noqa: F401
        import metalab_atlas.headercap  # noqa: F401
        import metalab_server.address  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - raised into the log after `go`, as a plain start's
        return exc
    return None


Start = tuple[list[str], str, str]


def _receive() -> tuple[Start, int] | None:
    """The start message and the log's descriptor, or None at end-of-file or on garbage."""
    sock = socket.socket(fileno=os.dup(0))
    data = b""
    fds: list[int] = []
    try:
        while not data.endswith(b"\n") and len(data) < MAX_MESSAGE:
            chunk, got, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, 4)
            fds.extend(got)
            if not chunk:
                break
            data += chunk
    except OSError:
        data = b""
    finally:
        sock.close()
    start = _parse(data)
    if start is None or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        return None
    return start, fds[0]


def _parse(data: bytes) -> Start | None:
    """(args, token, cwd) of a start message, or None when it is not one."""
    try:
        message = json.loads(data) if data.endswith(b"\n") else None
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    args, token, cwd = message.get("args"), message.get("token"), message.get("cwd")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return None
    if not isinstance(token, str) or not isinstance(cwd, str):
        return None
    return args, token, cwd


def _attach(log_fd: int, cwd: str) -> None:
    """Output to the log, input from /dev/null, in ``cwd``: a detached service's set-up."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    os.chdir(cwd)
