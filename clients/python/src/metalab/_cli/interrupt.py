"""Two-stage Ctrl+C for long commands: the first cancels and cleans up, the second leaves now.

`asyncio.run` raises `KeyboardInterrupt` on the second SIGINT from wherever the loop happens
to be (even inside `call_soon`), and its clean-up can then wait forever on a half-finished
gRPC callback. Here the second SIGINT ends the process at once: what the first one was
cleaning up is still recorded (the provisioning bundle names a submitted job), so the next
`up` or `down` finishes the work.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

INTERRUPTED_EXIT = 130


def run_interruptible(main: Coroutine[Any, Any, T], leave_message: str) -> T:
    """Run *main*; SIGINT cancels it once, a second SIGINT prints *leave_message* and exits 130.

    A cancelled *main* comes out as `KeyboardInterrupt`, like `asyncio.run`.
    """
    loop = asyncio.new_event_loop()
    task = loop.create_task(main)
    interrupts = 0

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            loop.call_soon_threadsafe(task.cancel)
            return
        _leave(leave_message)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        if interrupts:
            raise KeyboardInterrupt from None
        raise
    finally:
        try:
            _cancel_the_rest(loop)
        finally:
            loop.close()
            signal.signal(signal.SIGINT, previous)


def _cancel_the_rest(loop: asyncio.AbstractEventLoop) -> None:
    """What `asyncio.run` does on the way out; a second SIGINT still ends it at once."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


def _leave(message: str) -> None:
    from metalab._client.client import EMBEDDED_DIRS

    for path in list(EMBEDDED_DIRS):
        shutil.rmtree(path, ignore_errors=True)
    try:
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()
    finally:
        os._exit(INTERRUPTED_EXIT)
