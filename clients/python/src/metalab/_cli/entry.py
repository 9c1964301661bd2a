"""The `metalab` console script: the hot commands' fast path (`fast`), else the click CLI."""

from __future__ import annotations

import sys
from typing import Any

# Commands that leave nothing running in this process once click returns. A cold `services
# up` has imported gRPC, pydantic and the orchestrator by then, and tearing the interpreter
# down (freeing every module's objects) took ~0.1 s after its answer was printed (issue 14).
QUICK_EXIT = {("services", "up")}
THREAD_WAIT = 1.0
# A cold `services up` pre-warms Atlas (the module and the environment prefix the orchestrator's
# Atlas plugin spawns it with; a mismatch there only means the child is not used).
PREWARM = {("services", "up")}
ATLAS_MODULE = "metalab_atlas"
ATLAS_DROP_ENV = "METALAB_TOKEN"


def main(argv: list[str] | None = None) -> Any:
    """Run ``metalab ARGS``; click (`metalab._cli.main`) is imported only when needed."""
    args = sys.argv[1:] if argv is None else list(argv)
    from metalab._cli.fast import dispatch

    lines = dispatch(args)
    if lines is None:
        warm = _prewarm(args)
        from metalab._cli.main import main as full

        try:
            result = full(args)
        finally:
            if warm:
                from metalab.core import prewarm

                prewarm.discard_all()
        if argv is None and result is None and tuple(args[:2]) in QUICK_EXIT:
            _leave_now()
        return result
    try:
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    return None


def _prewarm(args: list[str]) -> bool:
    """For a `services up` the fast path did not answer (nothing healthy to reuse), start
    Atlas's imports now, in a gated child the embedded orchestrator starts or discards
    (`metalab.core.prewarm`); not for help, nor with a registry elsewhere. Whether it did."""
    if tuple(args[:2]) not in PREWARM or "--help" in args or "-h" in args:
        return False
    import os

    if os.environ.get("METALAB_REGISTRY_ADDRESS"):
        return False
    from metalab.core import prewarm

    prewarm.start(ATLAS_MODULE, drop_env=ATLAS_DROP_ENV)
    return True


def _leave_now() -> None:
    """Exit 0 now: as the normal exit, other threads are waited for (those still finishing
    asyncio's executor), the output flushed and the atexit handlers run, but the interpreter
    is not torn down. A thread still alive after `THREAD_WAIT` or a flush that fails returns:
    the normal exit then does it all (atexit handlers never run twice)."""
    import threading
    import time

    deadline = time.monotonic() + THREAD_WAIT
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return
    import atexit
    import os

    for step in (_flush, atexit._run_exitfuncs, _flush):
        try:
            step()
        except (OSError, ValueError):
            return
    os._exit(0)


def _flush() -> None:
    sys.stdout.flush()
    sys.stderr.flush()


if __name__ == "__main__":
    main()
