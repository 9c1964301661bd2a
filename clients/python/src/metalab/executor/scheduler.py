"""The one place scheduler commands run: `SchedulerRunner` and its local implementation.

Every ``sbatch``/``squeue``/``scancel``/``scontrol`` goes through ``run()``, which logs the argv and
raises `SchedulerError(argv, returncode, stderr)` on failure. A runner over the SSH gateway
implements the same Protocol.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from typing import Protocol

from metalab.errors import SchedulerError

log = logging.getLogger("metalab.executor.scheduler")
DEFAULT_TIMEOUT = 60.0


class SchedulerRunner(Protocol):
    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> str:
        """Run ``argv``; return stdout; raise `SchedulerError` on a non-zero exit."""
        ...


class LocalRunner:
    """Runs scheduler commands on this machine."""

    def run(self, argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT) -> str:
        log.debug("running %s", " ".join(argv))
        try:
            proc = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise SchedulerError(argv, 127, f"{argv[0]}: command not found") from None
        except subprocess.TimeoutExpired as exc:
            partial = (
                exc.stderr.decode(errors="replace")
                if isinstance(exc.stderr, bytes)
                else (exc.stderr or "")
            )
            raise SchedulerError(argv, -1, f"{partial}timed out after {timeout:.0f}s") from None
        if proc.returncode != 0:
            raise SchedulerError(argv, proc.returncode, proc.stderr)
        return proc.stdout
