"""What executors receive (`SweepPlan`) and return (`Handle`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from metalab._runstore.base import StoreConfig
from metalab._sdk.experiment import RunSpec


@dataclass(frozen=True)
class SweepPlan:
    """The runs still to do, as data: everything an executor needs, nothing pickled."""

    experiment_id: str
    operation: str  # "module:function" (or "/path/script.py:function")
    runs: list[RunSpec]
    attempts: Mapping[str, int]
    store: StoreConfig
    work_dir: Path  # on the store's filesystem: payloads and scheduler logs go here
    python_path: list[str] = field(default_factory=list)
    capture_output: bool = True
    env: Mapping[str, str] = field(default_factory=dict)  # exported to every run


class Handle(Protocol):
    """A submitted sweep."""

    def active(self) -> bool | None:
        """True while work is queued or running; None when that cannot be known right now."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait up to ``seconds`` (returning early when the handle knows the work finished)."""
        ...

    def cancel(self) -> None: ...

    def describe(self) -> str: ...


class Executor(Protocol):
    type_name: str

    @property
    def settings(self) -> dict[str, Any]:
        """The merged settings, for logging."""
        ...

    def submit(self, plan: SweepPlan) -> Handle: ...
