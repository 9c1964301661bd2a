"""Run records and the `Store` protocol every store implements."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
STATUSES = (RUNNING, COMPLETED, FAILED, CANCELLED)

EXPERIMENT_SCHEMA = "metalab.experiment/1"
RUN_SCHEMA = "metalab.run/1"


def now_iso(t: float | None = None) -> str:
    """UTC timestamp as ISO 8601 with microseconds and a ``Z``."""
    stamp = datetime.fromtimestamp(time.time() if t is None else t, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class RunRecord:
    """One run's summary: what ``run.json`` holds and the ``runs`` table indexes."""

    experiment_id: str
    run_id: str
    params: dict[str, Any]
    seed: int
    status: str
    attempt: int = 1
    created_at: str = field(default_factory=now_iso)
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    host: str | None = None
    executor: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"schema": RUN_SCHEMA, **asdict(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class MetricStep:
    name: str
    step: int
    value: float
    t: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "step": self.step, "value": self.value, "t": self.t}


@dataclass(frozen=True)
class RunState:
    status: str
    attempt: int


class Store(Protocol):
    """Where run records, step metrics, logs and artifacts go."""

    def describe(self) -> str:
        """A one-line description for logs (never includes a password)."""
        ...

    def put_experiment(
        self, spec: Mapping[str, Any], total_runs: int, run_ids: Sequence[str] = ()
    ) -> None:
        """Record the experiment and the ids of its latest sweep (what `orphans` keeps)."""

    def run_states(self, experiment_id: str) -> dict[str, RunState]: ...

    def begin_run(self, record: RunRecord) -> None:
        """Write the record of a starting run and forget the previous attempt's step metrics."""
        ...

    def write_run(self, record: RunRecord) -> None: ...

    def write_runs(self, records: Sequence[RunRecord]) -> None: ...

    def write_steps(self, experiment_id: str, run_id: str, steps: Iterable[MetricStep]) -> None: ...

    def read_runs(self, experiment_id: str) -> list[RunRecord]: ...

    def run_dir(self, experiment_id: str, run_id: str) -> Path:
        """The run's directory on the filesystem (logs/ and artifacts/ live under it)."""
        ...

    def experiment_dir(self, experiment_id: str) -> Path: ...

    def close(self) -> None: ...


class StoreConfig(Protocol):
    """A store's settings: plain data, picklable, JSON-able, safe to ship to workers."""

    @property
    def kind(self) -> str: ...

    def open(self) -> Store: ...

    def describe(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...
