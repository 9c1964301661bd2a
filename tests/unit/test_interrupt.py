"""Two-stage Ctrl+C (`metalab._cli.interrupt`), on a real child process and real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from metalab._cli.interrupt import run_interruptible

    async def main(hang: bool) -> str:
        try:
            print("ready", flush=True)
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            print("cleaning", flush=True)
            if hang:
                await asyncio.Event().wait()  # a clean-up that never ends
            raise
        return "done"

    try:
        run_interruptible(main(sys.argv[1] == "hang"), "leaving now")
    except KeyboardInterrupt:
        print("cancelled", flush=True)
        sys.exit(7)
    """
)


def start(mode: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


def test_first_interrupt_cancels_and_lets_the_clean_up_finish() -> None:
    process = start("clean")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 7, err
    assert out == "cleaning\ncancelled\n"


def test_second_interrupt_leaves_a_hung_clean_up_at_once() -> None:
    process = start("hang")
    assert process.stdout is not None
    process.send_signal(signal.SIGINT)
    assert process.stdout.readline() == "cleaning\n"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err == "leaving now\n"
    assert "cancelled" not in out
