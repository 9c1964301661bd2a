"""Runtime: the non-reproducible plumbing an operation may ask for.

Logger, scratch directory, cancellation token, experiment metadata and event callback.
None of it takes part in a run's identity (unlike context, params and seeds).
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metalab.events import EventCallback

__all__ = ["CancellationToken", "CancelledError", "Runtime", "create_runtime"]


class CancelledError(Exception):
    """The operation was asked to stop (see :meth:`Runtime.check_cancelled`)."""


class CancellationToken:
    """A thread-safe flag for cooperative cancellation."""

    def __init__(self) -> None:
        self._flag = threading.Event()

    def cancel(self) -> None:
        """Request cancellation."""
        self._flag.set()

    def is_cancelled(self) -> bool:
        """Whether cancellation was requested."""
        return self._flag.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` seconds pass; return whether cancelled."""
        return self._flag.wait(timeout)

    def reset(self) -> None:
        """Clear a cancellation request."""
        self._flag.clear()


def _operation_logger() -> logging.Logger:
    return logging.getLogger("metalab.operation")


def _scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="metalab_"))


@dataclass
class Runtime:
    """What an operation gets as ``runtime``.

    Attributes:
        logger: logger for the operation's output.
        scratch_dir: directory for temporary files.
        cancel_token: cooperative cancellation; see :meth:`check_cancelled`.
        metadata: experiment-level metadata (not fingerprinted).
        event_callback: receiver of runtime events, if any.
    """

    logger: logging.Logger = field(default_factory=_operation_logger)
    scratch_dir: Path = field(default_factory=_scratch_dir)
    cancel_token: CancellationToken = field(default_factory=CancellationToken)
    metadata: dict[str, Any] = field(default_factory=dict)
    event_callback: EventCallback | None = None

    def check_cancelled(self) -> None:
        """Raise :class:`CancelledError` if cancellation was requested."""
        if self.cancel_token.is_cancelled():
            raise CancelledError("Operation was cancelled")


def create_runtime(
    run_id: str,
    logger: logging.Logger | None = None,
    scratch_dir: Path | None = None,
    metadata: dict[str, Any] | None = None,
    event_callback: EventCallback | None = None,
) -> Runtime:
    """Build the runtime of run ``run_id``.

    Defaults: logger ``metalab.run.<first 8 chars of run_id>``, a fresh temporary scratch
    directory ``metalab_<run_id[:8]>_*``, a new cancellation token, empty metadata.
    """
    short = run_id[:8]
    return Runtime(
        logger=logger if logger is not None else logging.getLogger(f"metalab.run.{short}"),
        scratch_dir=(
            scratch_dir
            if scratch_dir is not None
            else Path(tempfile.mkdtemp(prefix=f"metalab_{short}_"))
        ),
        cancel_token=CancellationToken(),
        metadata=metadata or {},
        event_callback=event_callback,
    )
