"""The `Executor` protocol: where runs execute (threads, processes, a cluster)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from metalab.executor.handle import RunHandle
    from metalab.executor.payload import RunPayload
    from metalab.operation import OperationWrapper
    from metalab.store.base import Store


class Executor(Protocol):
    """Runs a batch of payloads and hands back a :class:`RunHandle` at once.

    A whole batch is submitted in one call (a cluster executor can turn it into job
    arrays). ``run_ids`` lists every run of the experiment, including those resume
    skipped, so the handle's status counts them.
    """

    def submit(
        self,
        payloads: list[RunPayload],
        store: Store,
        operation: OperationWrapper,
        run_ids: list[str] | None = None,
    ) -> RunHandle:
        """Start the payloads' runs; results are written to ``store``."""
        ...

    def shutdown(self, wait: bool = True) -> None:
        """Release the executor's workers (``wait``: let started runs finish first)."""
        ...
