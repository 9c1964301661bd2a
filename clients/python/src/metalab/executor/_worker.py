"""Whether this process is a metalab worker, and the refusal to sweep from one.

A worker that imports the user's script (to find its operation) must not start the
script's own sweep again: an unguarded ``metalab.run(...)`` at the script's top level
raises :class:`NestedRunError` in a worker instead of submitting anything.
"""

from __future__ import annotations

import os

WORKER_ENV = "METALAB_WORKER"
_in_worker = False


class NestedRunError(RuntimeError):
    """``metalab.run`` was called while a worker imported the user's script."""


def mark_worker() -> None:
    """Declare this process a worker (process-pool initializer, cluster task entry)."""
    global _in_worker
    _in_worker = True


def in_worker() -> bool:
    """True in a metalab worker process."""
    return _in_worker or os.environ.get(WORKER_ENV) == "1"


def refuse_in_worker() -> None:
    """Raise :class:`NestedRunError` if called in a worker."""
    if in_worker():
        raise NestedRunError(
            "metalab.run() was called inside a metalab worker while it imported your script; "
            'put the sweep under `if __name__ == "__main__":` so workers only import the operation'
        )
