"""Pre-warmed service children: started early, held at a gate, handed their real start later.

A cold ``services up`` spends its first ~0.3 s importing the CLI and starting the embedded
orchestrator; Atlas then spends as long again importing its stack before it listens. `start`
spawns ``python -m MODULE --prewarm PARENT`` at the very start instead: the child imports its
stack while this process works, then waits on a socket. The orchestrator (in this process)
`take`s it, records its identity (pid and start time) and sends `WarmChild.go`: the arguments,
the token and the log's descriptor travel over that private socket, never through a command
line or an environment. Until then the child dies with the thread that spawned it
(``PR_SET_PDEATHSIG``, set by the child), and it exits when the socket closes unused, so no path
leaves it behind. `start` must run on the main thread: the death signal follows the spawning
thread.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

PREWARM_FLAG = "--prewarm"
MAX_MESSAGE = 65536


class WarmChild:
    """A pre-warmed child waiting for `go`: its process, its end of the socket, what it runs."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        sock: socket.socket,
        module: str,
        env: dict[str, str],
    ) -> None:
        self.process = process
        self.sock = sock
        self.module = module
        self.env = env

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.process.pid

    def go(self, message: Mapping[str, Any], fds: list[int]) -> None:
        """Send the child its start (one JSON line) with ``fds``, then close the socket.
        ``OSError`` when the child is gone."""
        data = json.dumps(dict(message)).encode() + b"\n"
        if len(data) > MAX_MESSAGE:
            raise ValueError("pre-warmed start message too long")
        try:
            sent = socket.send_fds(self.sock, [data], fds)
            if sent < len(data):
                self.sock.sendall(data[sent:])
        finally:
            self.sock.close()

    def discard(self) -> None:
        """Close the socket: a child waiting for `go` exits at once."""
        self.sock.close()


_pending: dict[str, WarmChild] = {}


def start(module: str, *, drop_env: str) -> None:
    """Spawn ``python -m module --prewarm PID`` detached (own session, umask 077, output to
    /dev/null until `go`) with this environment minus the variables starting with ``drop_env``.
    Does nothing when one is pending for ``module`` or the spawn fails (the service then starts
    the ordinary way)."""
    if module in _pending:
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_env)}
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", module, PREWARM_FLAG, str(os.getpid())],
            stdin=theirs.fileno(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd="/",
            start_new_session=True,
            close_fds=True,
            umask=0o077,
        )
    except OSError:
        ours.close()
        return
    finally:
        theirs.close()
    _pending[module] = WarmChild(process, ours, module, env)


def take(module: str, env: Mapping[str, str], python: str) -> WarmChild | None:
    """The pending child of ``module`` when it still waits and was started as a spawn now would
    be (same interpreter, same environment); otherwise it is discarded and None returned."""
    child = _pending.pop(module, None)
    if child is None:
        return None
    if child.process.poll() is not None or python != sys.executable or dict(env) != child.env:
        child.discard()
        return None
    return child


def discard_all() -> None:
    """Discard every pending child (each exits when its socket closes)."""
    while _pending:
        _pending.popitem()[1].discard()
