"""Group commit: concurrent puts and deletes of one bundle share a lock, a read and an fsync.

Operations on a path queue up while a commit is in flight; the next commit applies the whole
queue in arrival order against the current bundle (so compare-and-swap on the nonce behaves as
if they ran one by one), writes only the final state, and then answers every caller. The file
work runs in a worker thread, so the event loop keeps serving reads meanwhile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from metalab.core.bundle import Bundle
from metalab.core.bundle.files import delete_bundle, read_bundle, write_bundle
from metalab.core.errors import BundleConflict
from metalab_registry.locking import locked

if TYPE_CHECKING:  # asyncio is imported by the group writer only: `commit` alone needs none
    import asyncio


class NonceMismatch(BundleConflict):
    """A compare-and-swap on a bundle lost: someone else changed it first."""


@dataclass
class Operation:
    """A put (``bundle`` set) or a delete (``bundle`` None), optionally guarded by a nonce."""

    bundle: Bundle | None
    expected_nonce: str = ""


@dataclass
class _Queued:
    operation: Operation
    done: asyncio.Future[bool] = field(default_factory=lambda: _loop().create_future())


def _loop() -> asyncio.AbstractEventLoop:
    import asyncio

    return asyncio.get_running_loop()


def commit(path: Path, operations: list[Operation]) -> list[bool | NonceMismatch]:
    """Apply ``operations`` in order under the bundle's lock; one write (or unlink) at most.

    Each outcome is True/False (a delete: whether a bundle existed; a put: True) or the
    `NonceMismatch` that rejected that operation.
    """
    outcomes: list[bool | NonceMismatch] = []
    with locked(path):
        # Only a nonce needs the current content: a plain delete must work on a corrupt file.
        exists = os.path.lexists(path)
        needs_current = any(op.expected_nonce for op in operations)
        current = read_bundle(path) if needs_current else None
        changed = False
        for op in operations:
            if op.expected_nonce:
                actual = current.get("nonce", "") if current else ""
                if actual != op.expected_nonce:
                    outcomes.append(
                        NonceMismatch(
                            f"{path}: bundle changed (nonce {actual!r}, "
                            f"expected {op.expected_nonce!r})"
                        )
                    )
                    continue
            outcomes.append(op.bundle is not None or exists)
            current = op.bundle
            exists = op.bundle is not None
            changed = True
        if changed:
            if current is None:
                delete_bundle(path)
            else:
                write_bundle(path, current)
    return outcomes


class GroupWriter:
    """Serialises and batches writes per bundle path."""

    def __init__(self) -> None:
        self._queues: dict[Path, list[_Queued]] = {}

    async def apply(self, path: Path, operation: Operation) -> bool:
        """Queue ``operation`` on ``path`` and wait until it is durable (or rejected)."""
        queued = _Queued(operation)
        queue = self._queues.get(path)
        if queue is None:
            self._queues[path] = [queued]
            _loop().create_task(self._drain(path))
        else:
            queue.append(queued)
        return await queued.done

    async def _drain(self, path: Path) -> None:
        try:
            while batch := self._queues.get(path):
                self._queues[path] = []
                await self._commit(path, batch)
        finally:
            self._queues.pop(path, None)

    @staticmethod
    async def _commit(path: Path, batch: list[_Queued]) -> None:
        import asyncio

        try:
            outcomes = await asyncio.to_thread(commit, path, [q.operation for q in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting caller gets it
            for queued in batch:
                if not queued.done.done():
                    queued.done.set_exception(exc)
            return
        for queued, outcome in zip(batch, outcomes, strict=True):
            if queued.done.done():
                continue
            if isinstance(outcome, NonceMismatch):
                queued.done.set_exception(outcome)
            else:
                queued.done.set_result(outcome)
