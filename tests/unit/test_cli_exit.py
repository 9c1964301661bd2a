"""`metalab._cli.entry._leave_now`: a successful `services up` leaves without the interpreter's
teardown, but only as the normal exit would have ended (threads waited for, atexit run, output
flushed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = """
import atexit, sys, threading, time
from metalab._cli import entry

entry.THREAD_WAIT = {wait}
atexit.register(lambda: print("atexit ran", flush=True))
threading.Thread(target=lambda: (time.sleep({work}), print("thread done", file=sys.stderr))).start()
sys.stdout.write("buffered answer\\n")  # not flushed yet: a pipe is block-buffered
entry._leave_now()
print("returned")
"""


def _run(wait: float, work: float) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(SCRIPT.format(wait=wait, work=work))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_leaving_now_waits_for_threads_runs_atexit_and_flushes() -> None:
    result = _run(wait=30.0, work=0.2)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["buffered answer", "atexit ran"]  # not "returned"
    assert "thread done" in result.stderr


def test_a_thread_still_working_leaves_the_exit_to_the_interpreter() -> None:
    result = _run(wait=0.05, work=1.0)
    assert result.returncode == 0, result.stderr
    # _leave_now gave up and returned: the normal exit waited for the thread, ran atexit once
    assert result.stdout.splitlines() == ["buffered answer", "returned", "atexit ran"]
    assert "thread done" in result.stderr
